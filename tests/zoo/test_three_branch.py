"""three-branch specifics: the pitch skip is optional, and without it the model is the patent's."""

from __future__ import annotations

import pytest
import torch

from mg import zoo
from mg.models.layers import count_parameters
from mg.models.protocol import NoteBatch


def build(pitch_skip: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    family = zoo.get("three-branch")
    return family.build(family.make_config("tiny", pitch_skip=pitch_skip)).eval()


def batch(steps: int = 10) -> NoteBatch:
    generator = torch.Generator().manual_seed(3)
    pressed = (torch.rand(2, steps, 88, generator=generator) < 0.1).float()
    notes = torch.stack([pressed, pressed, pressed * 0.6], dim=-1)
    context = torch.rand(2, steps, 88, 3, generator=generator)
    return NoteBatch(notes, context, torch.arange(steps).remainder(16).repeat(2, 1))


def test_the_pitch_skip_is_one_map_shared_by_every_pitch():
    assert count_parameters(build(True)) - count_parameters(build(False)) == 6 * 3 + 3


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
        state, stepped = model.initial_state(2), []
        for t in range(whole_batch.notes.shape[1]):
            frame = NoteBatch(
                *(
                    x[:, t : t + 1]
                    for x in (whole_batch.notes, whole_batch.context, whole_batch.position)
                )
            )
            output, state = model.step(state, frame)
            stepped.append(output.log_prob(whole_batch.notes[:, t : t + 1]))
    torch.testing.assert_close(torch.cat(stepped, dim=1), whole, rtol=1e-5, atol=1e-5)
