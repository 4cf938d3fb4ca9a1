"""three-branch specifics: the pitch network is optional, and without it the model is the
patent's; the pitch network treats every pitch alike and remembers what the steps saw."""

from __future__ import annotations

import pytest
import torch

from mg import zoo
from mg.models.layers import count_parameters
from mg.models.pitch_net import PitchNet
from mg.models.protocol import NoteBatch


def build(pitch_skip: bool, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    family = zoo.get("three-branch")
    return family.build(family.make_config("tiny", pitch_skip=pitch_skip, **options)).eval()


def batch(steps: int = 10) -> NoteBatch:
    generator = torch.Generator().manual_seed(3)
    pressed = (torch.rand(2, steps, 88, generator=generator) < 0.1).float()
    notes = torch.stack([pressed, pressed, pressed * 0.6], dim=-1)
    context = torch.rand(2, steps, 88, 3, generator=generator)
    return NoteBatch(notes, context, torch.arange(steps).remainder(16).repeat(2, 1))


def stepped_log_prob(model: torch.nn.Module, whole: NoteBatch):
    """log p of every frame of `whole` by `step`, one frame at a time, and the last state."""
    state, stepped = model.initial_state(whole.notes.shape[0]), []
    for t in range(whole.notes.shape[1]):
        frame = NoteBatch(*(x[:, t : t + 1] for x in (whole.notes, whole.context, whole.position)))
        output, state = model.step(state, frame)
        stepped.append(output.log_prob(whole.notes[:, t : t + 1]))
    return torch.cat(stepped, dim=1), state


def test_the_pitch_skip_is_one_map_shared_by_every_pitch():
    assert count_parameters(build(True, pitch_window=0)) - count_parameters(build(False)) == 21
    window, units, hidden = 12, 32, 32
    network = (6 * (2 * window + 1) + 1) * units + 24 * units + hidden * units + (units + 1) * 3
    assert count_parameters(build(True)) - count_parameters(build(False)) == network


def test_the_pitch_network_is_the_same_in_every_key():
    """Move every note up a fourth: each pitch's biases move with it (away from the edges)."""
    torch.manual_seed(1)
    network = PitchNet(features=8, alpha=88, window=12, units=16)
    shift, steps = 5, 40
    notes = torch.zeros(1, steps, 88, 3)
    melody = 30 + torch.tensor([0, 2, 4, 5, 7, 9, 11, 12]).repeat(5)  # a scale, five times
    notes[0, torch.arange(steps), melody] = torch.tensor([1.0, 1.0, 0.6])
    context = notes.cumsum(1) / torch.arange(1, steps + 1).view(1, -1, 1, 1)
    features = torch.randn(1, steps, 8)
    moved = [x.roll(shift, dims=2) for x in (notes, context)]
    with torch.no_grad():
        bias, _ = network(notes, context, features)
        moved_bias, _ = network(*moved, features)
    inner = slice(20, 60)  # 12 semitones clear of the notes' ends
    torch.testing.assert_close(moved_bias[:, :, 20 + shift : 60 + shift], bias[:, :, inner])


def test_the_key_memory_carried_by_steps_is_the_one_forward_computes():
    model, whole_batch = build(True), batch(steps=40)
    with torch.no_grad():
        whole = model(whole_batch).log_prob(whole_batch.notes)
        stepped, state = stepped_log_prob(model, whole_batch)
    torch.testing.assert_close(stepped, whole, rtol=1e-5, atol=1e-5)
    assert state[3].shape == (2, 2, 12) and state[3].sum() > 0


@pytest.mark.parametrize("head", ["nade", "independent"])
def test_the_head_is_chosen_by_name_and_recorded_in_the_config(head):
    family = zoo.get("three-branch")
    model = family.build(family.make_config("tiny", head=head))
    assert model.config.head == head
    assert (
        type(model(batch())).__name__
        == {"nade": "NadeFrame", "independent": "IndependentFrame"}[head]
    )
    with pytest.raises(ValueError, match="unknown head 'made'"):
        family.build(family.make_config("tiny", head="made"))


def test_without_the_pitch_skip_step_still_reproduces_forward():
    model, whole_batch = build(False), batch()
    with torch.no_grad():
        whole = model(whole_batch).log_prob(whole_batch.notes)
        stepped, _ = stepped_log_prob(model, whole_batch)
    torch.testing.assert_close(stepped, whole, rtol=1e-5, atol=1e-5)
