"""The incremental sampler on a model trained on folk tunes (tests/fixtures/generation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mg.generation.sampling import SamplingOptions, generate_notes
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


def test_each_frame_is_what_the_model_predicts_from_the_shared_context(loaded):
    """Near-zero temperature makes sampling follow the logits' sign; a whole-sequence forward
    over the sampled piece, with the context from `context_matrix`, must then predict every
    sampled frame: the sampler fed the model the same notes, context and positions."""
    grid = loaded.grid
    options = SamplingOptions(steps=80, num=2, seed=1, temperature=1e-4)
    pieces = generate_notes(loaded.model, grid, options)
    notes = pieces.astype(np.float32)
    notes[..., 2] /= 127.0
    context = np.stack([context_matrix(p, grid.steps_per_beat) for p in pieces])
    position = np.tile(position_index(options.steps, grid)[None], (options.num, 1, 1))
    batch = NoteBatch(
        torch.from_numpy(notes),
        torch.from_numpy(context.astype(np.float32)),
        torch.from_numpy(position.astype(np.int64)),
    )
    with torch.no_grad():
        distribution = loaded.model(batch).time_slice(slice(None, -1))
        output = distribution.conditionals(batch.notes[:, 1:])
    predicted = (output.pressed_logits > 0).numpy()
    assert np.array_equal(predicted, pieces[:, 1:, :, 0] > 0)
    articulated = (output.articulated_logits > 0).numpy()
    started = (pieces[:, 1:, :, 0] > 0) & (articulated | (pieces[:, :-1, :, 0] == 0))
    assert np.array_equal(started, pieces[:, 1:, :, 1] > 0)


def test_a_primer_is_read_first_and_comes_back_unchanged(loaded, generation_corpus):
    primer = read_file(generation_corpus.midi[0], loaded.grid).pieces[0].notes[:40]
    options = SamplingOptions(steps=24, num=2, seed=0)
    pieces = generate_notes(loaded.model, loaded.grid, options, primer)
    assert pieces.shape[:2] == (2, 40 + 24)
    assert np.array_equal(pieces[:, :40], np.stack([primer, primer]))


def test_a_tiny_top_p_takes_the_likeliest_value_of_every_choice(loaded):
    """With the nade head a tiny top-p keeps, at every pitch, only the likelier value: the
    same pieces as a near-zero temperature (the start chord comes from the seed)."""
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
