"""The transformer family: step ≡ forward for both presets, and a bounded cache that still samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mg import zoo
from mg.generation.sampling import SamplingOptions, generate_notes
from mg.models.protocol import NoteBatch
from mg.representation.grid import Grid


def model_of(preset: str, grid: Grid | None = None, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    family = zoo.get("transformer")
    return family.build(family.make_config(preset, grid, **overrides)).eval()


def random_frames(steps: int, seed: int = 1) -> NoteBatch:
    generator = torch.Generator().manual_seed(seed)
    pressed = (torch.rand(2, steps, 88, generator=generator) < 0.1).float()
    notes = torch.stack([pressed, pressed * 0.5, pressed * 0.7], dim=-1)
    context = torch.rand(2, steps, 88, 3, generator=generator)
    return NoteBatch(notes, context, torch.arange(steps).remainder(16).repeat(2, 1))


def window_of(batch: NoteBatch, start: int, stop: int) -> NoteBatch:
    return NoteBatch(
        batch.notes[:, start:stop], batch.context[:, start:stop], batch.position[:, start:stop]
    )


def probe(steps: int) -> torch.Tensor:
    """Frames [2, steps, α, 3] to score every step's distribution on."""
    return random_frames(steps, seed=9).notes


def score(distribution, frames: torch.Tensor) -> torch.Tensor:
    """log p of `frames` and the conditional pressed logits behind it: [B, T, 1 + α]."""
    logits = distribution.conditionals(frames).pressed_logits
    return torch.cat([distribution.log_prob(frames)[..., None], logits], dim=-1)


def stepped_scores(model, batch: NoteBatch, frames: torch.Tensor) -> torch.Tensor:
    state, outputs = model.initial_state(2), []
    for t in range(batch.notes.shape[1]):
        output, state = model.step(state, window_of(batch, t, t + 1))
        outputs.append(score(output, frames[:, t : t + 1]))
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("preset", ["tiny", "base"])
def test_step_with_the_cache_reproduces_forward_within_1e_5(preset):
    model = model_of(preset)
    batch, frames = random_frames(24), probe(24)
    with torch.no_grad():
        whole = score(model(batch), frames)
        stepped = stepped_scores(model, batch, frames)
    assert (stepped - whole)[..., 1:].abs().max().item() <= 1e-5  # every conditional logit
    # log p of a frame sums 88 conditionals (|log p| near 90 on these random frames): float32
    # logits 1e-6 apart add up, so it is held to 1e-5 of its size
    difference = (stepped - whole)[..., 0].abs() / whole[..., 0].abs().clamp_min(1.0)
    assert difference.max().item() <= 1e-5


def test_past_the_window_step_and_forward_agree_on_the_same_band():
    window, steps = 8, 30
    model = model_of("tiny", window=window)
    batch, frames = random_frames(steps), probe(steps)
    with torch.no_grad():
        whole = score(model(batch), frames)
        stepped = stepped_scores(model, batch, frames)
    assert (stepped - whole).abs().max().item() <= 1e-5


def test_positions_are_relative_one_layer_sees_exactly_the_last_window_frames():
    """With one layer, step t depends on frames t-W+1..t only, wherever they sit in the piece
    (the attention's band: the pitch network's key memory, a recurrence that remembers further
    back, is left out here)."""
    window, steps = 8, 30
    model = model_of("tiny", window=window, layers=1, pitch_window=0)
    batch, frames = random_frames(steps), probe(steps)
    with torch.no_grad():
        stepped = stepped_scores(model, batch, frames)
        for t in (window, 17, steps - 1):
            start = t - window + 1
            alone = score(model(window_of(batch, start, t + 1)), frames[:, start : t + 1])
            torch.testing.assert_close(stepped[:, t], alone[:, -1], rtol=0, atol=1e-5)


def test_the_cache_stays_one_window_long_whatever_the_number_of_steps():
    model = model_of("tiny", window=16)
    batch = random_frames(64)
    state = model.initial_state(2)
    sizes = []
    with torch.no_grad():
        for t in range(64):
            _, state = model.step(state, window_of(batch, t, t + 1))
            sizes.append(state["cache"].numel())
    assert len(set(sizes)) == 1 and state["t"] == 64


def test_a_window_shorter_than_the_piece_still_samples_music():
    grid = Grid()
    model = model_of("tiny", grid, window=16)
    pieces = generate_notes(model, grid, SamplingOptions(steps=48, num=2, seed=3))
    assert pieces.shape == (2, 48, grid.alpha, 3) and pieces.dtype == np.uint8
    again = generate_notes(model, grid, SamplingOptions(steps=48, num=2, seed=3))
    assert np.array_equal(pieces, again)
