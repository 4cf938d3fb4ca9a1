"""Sampling controls: a generated frame never breaks a constraint it was given, for every head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mg import zoo
from mg.generation.controls import key_pitch_classes, make_controls, parse_pitch_range
from mg.generation.sampling import SamplingOptions, generate_notes
from mg.models.heads import HEADS
from mg.representation.grid import Grid

GRID = Grid(bars=2)


def noisy_model(name: str, head: str) -> torch.nn.Module:
    """An untrained model whose every pitch is more likely on than off: without controls its
    frames hold dozens of notes in every key, so each control has work to do."""
    family = zoo.get(name)
    torch.manual_seed(0)
    model = family.build(family.make_config("tiny", GRID, head=head)).eval()
    model.head.set_pressed_prior(torch.full((GRID.alpha,), 0.5))
    return model


@pytest.mark.parametrize("name", ["three-branch", "pianoroll-rnn"])
@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_every_frame_of_a_batch_keeps_key_range_and_polyphony(name, head, temperature):
    options = SamplingOptions(
        steps=48, num=4, seed=1, temperature=temperature, top_p=0.95,
        key="D:minor", pitch_range="55:84", max_polyphony=3,
    )  # fmt: skip
    pieces = generate_notes(noisy_model(name, head), GRID, options)
    pressed = pieces[..., 0] > 0  # [num, steps, α], the start frame included
    pitches = np.arange(GRID.low, GRID.high + 1)
    in_key = np.isin(pitches % 12, sorted(key_pitch_classes("D:minor")))
    in_range = (pitches >= 55) & (pitches <= 84)
    assert not pressed[..., ~(in_key & in_range)].any()
    assert pressed.sum(-1).max() <= 3
    assert pressed.sum(-1).mean() > 1  # the model still plays: the controls did not silence it
    assert not pieces[..., 1][~pressed].any() and not pieces[..., 2][~pressed].any()


def test_without_controls_the_same_noisy_model_breaks_them():
    """The check above is not vacuous: the unconstrained model plays out of key and range."""
    pieces = generate_notes(noisy_model("three-branch", "nade"), GRID, SamplingOptions(48, 2, 1))
    assert (pieces[..., 0] > 0).sum(-1).max() > 3


def test_a_primer_is_kept_and_only_the_new_frames_are_constrained():
    primer = np.zeros((8, GRID.alpha, 3), np.uint8)
    primer[:, [20, 21, 22, 23], :] = (1, 0, 64)  # a cluster no key and cap would allow
    options = SamplingOptions(steps=16, num=2, seed=0, key="C", max_polyphony=1)
    pieces = generate_notes(noisy_model("three-branch", "nade"), GRID, options, primer)
    assert np.array_equal(pieces[:, :8], np.stack([primer, primer]))
    new = pieces[:, 8:, :, 0] > 0
    assert new.sum(-1).max() <= 1
    scale = np.isin(np.arange(GRID.low, GRID.high + 1) % 12, [0, 2, 4, 5, 7, 9, 11])
    assert not new[..., ~scale].any()


@pytest.mark.parametrize(
    ("key", "classes"),
    [
        ("D:minor", {2, 4, 5, 7, 9, 10, 0}),
        ("G", {7, 9, 11, 0, 2, 4, 6}),
        ("F#:dorian", {6, 8, 9, 11, 1, 3, 4}),
        ("Bb:major", {10, 0, 2, 3, 5, 7, 9}),
    ],
)
def test_keys_name_their_scales(key, classes):
    assert key_pitch_classes(key) == classes


@pytest.mark.parametrize("key", ["H:minor", "D:blues", "", "D##x"])
def test_a_bad_key_names_the_forms_it_takes(key):
    with pytest.raises(ValueError, match="--key"):
        key_pitch_classes(key)


@pytest.mark.parametrize("text", ["84:55", "55", "a:b", "-1:60", "60:128"])
def test_a_bad_pitch_range_is_refused(text):
    with pytest.raises(ValueError, match="--pitch-range"):
        parse_pitch_range(text)


def test_controls_that_leave_no_pitch_are_refused():
    with pytest.raises(ValueError, match="no pitch of the model's range"):
        make_controls(GRID, key="C", pitch_range="1:10")
