"""Incremental generation for text families (char-rnn): one `step` per character, O(n) in all.

The result is ABC text; `mg.representation.read_bytes(text.encode(), "x.abc", grid)`
turns it into pieces (and so MIDI), exactly as ingest reads an ABC file.
"""

from __future__ import annotations

import torch

from mg.generation.sampling import SamplingOptions
from mg.models.protocol import TextBatch

DEFAULT_PRIMER = "X:"  # every tune starts with its reference-number field
TUNE_END = "\n\n"  # tunes are separated by a blank line


@torch.no_grad()
def generate_text(
    model: torch.nn.Module, options: SamplingOptions, primer: str | None = None
) -> list[str]:
    """Sample `options.num` tunes at once; each is the primer and what follows it.

    A tune ends at its first blank line after the primer or after `options.steps` new
    characters, whichever comes first. Characters outside the vocabulary are never drawn.
    """
    if options.steps < 1 or options.num < 1 or options.temperature <= 0:
        raise ValueError(f"invalid sampling options: {options}")
    if not 0 < options.top_p <= 1:
        raise ValueError(f"invalid sampling options: {options}")
    vocabulary = model.vocabulary
    primer = DEFAULT_PRIMER if primer is None else primer
    primer_ids = torch.from_numpy(vocabulary.encode(primer))
    if len(primer_ids) == 0:
        raise ValueError("the primer must hold at least one character")
    generator = torch.Generator().manual_seed(options.seed)
    device = next(model.parameters()).device
    tokens = primer_ids.repeat(options.num, 1)
    logits, state = model.step(model.initial_state(options.num), TextBatch(tokens.to(device)))
    texts, done = [primer] * options.num, [False] * options.num
    for _ in range(options.steps):
        chosen = _draw(logits[:, -1].float().cpu(), options, generator)
        for i, char_id in enumerate(chosen.tolist()):
            if not done[i]:
                texts[i] += vocabulary.chars[char_id]
                done[i] = texts[i].endswith(TUNE_END)
        if all(done):
            break
        logits, state = model.step(state, TextBatch(chosen[:, None].to(device)))
    return [text.rstrip() + "\n" for text in texts]


def _draw(logits: torch.Tensor, options: SamplingOptions, generator: torch.Generator):
    """One character id per row: temperature, never the unknown mark (id 0), then top-p."""
    logits = logits / options.temperature
    logits[:, 0] = float("-inf")
    probabilities = torch.softmax(logits, dim=-1)
    if options.top_p < 1.0:
        ordered, order = probabilities.sort(dim=-1, descending=True)
        before = ordered.cumsum(-1) - ordered  # mass of the more likely characters
        ordered = torch.where(before < options.top_p, ordered, torch.zeros_like(ordered))
        probabilities = torch.zeros_like(probabilities).scatter(-1, order, ordered)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)
