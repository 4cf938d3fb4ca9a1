"""Which models a benchmark command trains, and at what size: every family with the backbones it
has, later models matched to the first one's parameter count at a size they can build."""

from __future__ import annotations

from mg.evaluation.polyphonic.run import (
    Settings,
    build_model,
    matched_hidden,
    model_specs,
    note_config,
    parameter_count,
)
from mg.representation.grid import Grid

SETTINGS = Settings(Grid(steps_per_beat=1, beats_per_bar=4))


def size(spec) -> int:
    return parameter_count(build_model(note_config(spec, SETTINGS)))


def test_a_family_without_the_asked_backbones_runs_once_with_its_own():
    specs = model_specs(["three-branch", "transformer"], ["lstm", "gru"], "tiny", {"head": "nade"})
    assert [(s.family, s.backbone) for s in specs] == [
        ("three-branch", "lstm"),
        ("three-branch", "gru"),
        ("transformer", "attention"),
    ]


def test_a_transformer_is_matched_to_a_recurrent_model_at_a_size_that_splits_into_its_heads():
    first, *_, transformer = model_specs(
        ["three-branch", "transformer"], ["lstm"], "tiny", {"hidden": 48}
    )
    target = size(first)
    matched = matched_hidden(transformer, SETTINGS, target)
    hidden = matched.overrides["hidden"]
    assert hidden % 4 == 0  # tiny: 2 heads of an even size
    assert abs(size(matched) - target) < 0.05 * target
