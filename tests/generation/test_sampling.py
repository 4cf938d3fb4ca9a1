"""The incremental sampler on a model trained on folk tunes (tests/fixtures/generation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mg.generation.sampling import SamplingOptions, generate_notes
from mg.models.heads import Controls
from mg.models.protocol import NoteBatch
from mg.models.saving import load_model
from mg.representation import context_matrix, position_index, read_file


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load_model(tiny_model[1])


def test_same_seed_gives_the_same_pieces_and_another_seed_others(loaded):
    first = generate_notes(loaded.model, loaded.grid, SamplingOptions(steps=96, num=3, seed=5))
    again = generate_notes(loaded.model, loaded.grid, SamplingOptions(steps=96, num=3, seed=5))
    other = generate_notes(loaded.model, loaded.grid, SamplingOptions(steps=96, num=3, seed=6))
    assert first.shape == (3, 96, loaded.grid.alpha, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # pieces of one batch differ
    assert first[:, :, :, 0].any(axis=(1, 2)).all()  # every piece plays something


def test_each_frame_is_the_draw_from_a_whole_piece_forward(loaded):
    """At temperature 1 and top-p 1 the sampler starts from silence (a silent frame on the last step of a
    bar) and draws each frame from the model's step. Replaying the seed's draws on the
    distributions of one whole-sequence forward over silence + the sampled piece, with the
    context from `context_matrix` and the positions one step before the bar, gives every frame
    back: the sampler fed the model the notes, context and positions ingest would, and the
    probability it sampled is the one training scores."""
    grid = loaded.grid
    options = SamplingOptions(steps=80, num=2, seed=1, top_p=1.0)
    pieces = generate_notes(loaded.model, grid, options)
    whole = np.concatenate([np.zeros_like(pieces[:, :1]), pieces], axis=1)
    notes = whole.astype(np.float32)
    notes[..., 2] /= 127.0
    context = np.stack([context_matrix(p, grid.steps_per_beat) for p in whole])
    position = np.tile(position_index(options.steps + 1, grid, -1)[None], (options.num, 1, 1))
    batch = NoteBatch(
        torch.from_numpy(notes),
        torch.from_numpy(context.astype(np.float32)),
        torch.from_numpy(position.astype(np.int64)),
    )
    generator = torch.Generator().manual_seed(options.seed)
    with torch.no_grad():
        distribution = loaded.model(batch)
        for t in range(options.steps):
            drawn = distribution.time_slice(slice(t, t + 1)).sample(generator, Controls())
            pressed = drawn.pressed.numpy()
            assert np.array_equal(pressed, pieces[:, t, :, 0] > 0), f"frame {t}"
            onset = pressed & (drawn.articulated.numpy() | (whole[:, t, :, 0] == 0))
            assert np.array_equal(onset, pieces[:, t, :, 1] > 0), f"frame {t}"
    assert pieces[..., 0].any(axis=(1, 2)).all()  # from silence, every piece plays


def test_a_primer_is_read_first_and_comes_back_unchanged(loaded, generation_corpus):
    primer = read_file(generation_corpus.midi[0], loaded.grid).pieces[0].notes[:40]
    options = SamplingOptions(steps=24, num=2, seed=0)
    pieces = generate_notes(loaded.model, loaded.grid, options, primer)
    assert pieces.shape[:2] == (2, 40 + 24)
    assert np.array_equal(pieces[:, :40], np.stack([primer, primer]))


def test_a_tiny_top_p_and_a_near_zero_temperature_take_the_likeliest_frame(loaded):
    """With the nade head a tiny top-p keeps the likeliest of the frames drawn, and so does a
    near-zero temperature: the same pieces."""
    assert loaded.model.config.head == "nade"
    top = generate_notes(loaded.model, loaded.grid, SamplingOptions(64, 2, 3, top_p=1e-6))
    cold = generate_notes(loaded.model, loaded.grid, SamplingOptions(64, 2, 3, temperature=1e-4))
    assert np.array_equal(top, cold)


def test_long_pieces_and_the_thread_setting_is_restored(loaded):
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # sampling runs on one thread, then gives the setting back
    try:
        pieces = generate_notes(loaded.model, loaded.grid, SamplingOptions(steps=2048, num=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert pieces.shape[1] == 2048


@pytest.mark.parametrize(
    "options",
    [
        SamplingOptions(steps=0),
        SamplingOptions(num=0),
        SamplingOptions(temperature=0.0),
        SamplingOptions(top_p=0.0),
        SamplingOptions(top_p=1.5),
    ],
)
def test_invalid_options_are_refused(loaded, options):
    with pytest.raises(ValueError, match="invalid sampling options"):
        generate_notes(loaded.model, loaded.grid, options)
