"""The published metric, by hand, and the trivial floor."""

from __future__ import annotations

import math

import numpy as np
import torch

from mg.evaluation.polyphonic.markov import fit_markov
from mg.evaluation.polyphonic.nll import logits_nll, roll_nll


def test_roll_nll_matches_a_hand_computed_value():
    roll = np.zeros((2, 88), np.uint8)
    roll[0, 3] = 1
    probabilities = np.full((2, 88), 0.1)
    probabilities[0, 3] = 0.8
    # frame 0: pitch 3 sounds (−ln .8), 87 silent (−ln .9 each); frame 1: 88 silent
    expected = (-math.log(0.8) - 87 * math.log(0.9) - 88 * math.log(0.9)) / 2
    assert math.isclose(roll_nll(probabilities, roll).mean, expected, rel_tol=1e-12)


def test_logit_zero_costs_88_ln2_per_frame_and_the_mask_drops_padding():
    target = torch.randint(0, 2, (3, 5, 88)).float()
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[2, 3:] = False
    nll = logits_nll(torch.zeros(3, 5, 88), target, mask)
    assert nll.frames == 13
    assert math.isclose(nll.mean, 88 * math.log(2), rel_tol=1e-12)


def test_logits_and_probabilities_give_the_same_figure():
    rng = np.random.default_rng(0)
    roll = (rng.random((7, 88)) < 0.05).astype(np.uint8)
    logits = rng.normal(size=(7, 88))
    by_roll = roll_nll(1 / (1 + np.exp(-logits)), roll)
    mask = torch.ones(1, 7, dtype=torch.bool)
    by_logits = logits_nll(torch.tensor(logits)[None], torch.tensor(roll)[None].float(), mask)
    assert math.isclose(by_roll.mean, by_logits.mean, rel_tol=1e-9)


def test_markov_floor_learns_that_held_notes_stay_held():
    roll = np.zeros((40, 88), np.uint8)
    roll[:, 10] = 1  # one pitch held throughout
    markov = fit_markov([roll])
    assert markov.on_after_on[10] > 0.9 and markov.on_after_off[20] < 0.1
    assert markov.nll([roll]).mean < 88 * math.log(2)


def test_a_model_that_says_one_half_everywhere_scores_88_ln2_over_every_frame():
    from mg.evaluation.polyphonic.nll import model_nll, prepare
    from mg.models import registry
    from mg.representation.grid import Grid

    grid = Grid(steps_per_beat=1, beats_per_bar=4)
    family = registry.get("three-branch")
    model = family.build(family.make_config("tiny", grid))
    for parameter in model.parameters():  # every output of every layer is then 0: p = 1/2
        torch.nn.init.zeros_(parameter)
    rng = np.random.default_rng(1)
    rolls = [(rng.random((length, 88)) < 0.05).astype(np.uint8) for length in (3, 9, 4)]
    nll = model_nll(model, prepare(rolls, grid), frames_per_batch=8)
    assert nll.frames == 16  # every frame of every piece, the first ones included
    assert math.isclose(nll.mean, 88 * math.log(2), rel_tol=1e-9)
