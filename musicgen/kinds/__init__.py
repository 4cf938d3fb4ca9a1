"""What a family reads (note matrices frame by frame, whole segments through a latent, or ABC
text) and what that means at every stage.

A family's `inputs` names its kind; `kind_of(family)` gives the object that loads a split into
batches and scores them (training, `mg evaluate`), samples pieces from a model, strips a primer,
turns a piece into note matrices and writes its files (`mg generate`, training's samples, the
MLflow pyfunc model). Nothing else decides by the kind's name.
"""

from __future__ import annotations

from typing import Any

from mg.kinds.notes import NOTES
from mg.kinds.protocol import InputKind, Sums
from mg.kinds.segments import SEGMENTS
from mg.kinds.text import TEXT

KINDS: dict[str, InputKind] = {NOTES.name: NOTES, SEGMENTS.name: SEGMENTS, TEXT.name: TEXT}


def kind_of(family: Any) -> InputKind:
    """The input kind of a registered family (or a kind's name)."""
    name = family if isinstance(family, str) else family.inputs
    if name not in KINDS:
        raise ValueError(f"unknown input kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


__all__ = ["KINDS", "InputKind", "Sums", "kind_of"]
