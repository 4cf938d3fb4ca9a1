"""Every family and backbone keeps the protocol: causal, and `step` reproduces `forward`."""

from __future__ import annotations

import pytest
import torch

from mg import zoo
from mg.models.protocol import LatentModel, NoteBatch, SequenceModel, TextBatch

CASES = [(f.name, b) for f in zoo.families() for b in f.backbones]
# Frame-by-frame families; latent segment families (music-vae) read a whole segment at once,
# so causality and `step` are not theirs (tests/zoo/test_music_vae.py tests their protocol).
SEQUENTIAL = [(name, b) for name, b in CASES if zoo.get(name).inputs != "segments"]
STEPS = 12


def tiny_model(name: str, backbone: str) -> torch.nn.Module:
    """The tiny preset made deeper and with dropout, so eval mode must switch dropout off."""
    family = zoo.get(name)
    torch.manual_seed(0)
    config = family.make_config("tiny", backbone=backbone, layers=2, dropout=0.3)
    return family.build(config).eval()


def random_batch(name: str, steps: int = STEPS, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    if zoo.get(name).inputs == "text":
        return TextBatch(torch.randint(1, 97, (2, steps), generator=generator))
    pressed = (torch.rand(2, steps, 88, generator=generator) < 0.1).float()
    articulated = pressed * (torch.rand(2, steps, 88, generator=generator) < 0.5)
    velocity = pressed * torch.rand(2, steps, 88, generator=generator)
    notes = torch.stack([pressed, articulated, velocity], dim=-1)
    context = torch.rand(2, steps, 88, 3, generator=generator)
    position = torch.arange(steps).remainder(16).repeat(2, 1)
    return NoteBatch(notes, context, position)


def frames(batch, t: int):
    """Frame t (T = 1) of a batch."""
    if isinstance(batch, TextBatch):
        return TextBatch(batch.tokens[:, t : t + 1])
    return NoteBatch(
        batch.notes[:, t : t + 1], batch.context[:, t : t + 1], batch.position[:, t : t + 1]
    )


def changed_after(batch, t: int):
    """The same batch with every frame after t replaced."""
    other = random_batch("char-rnn" if isinstance(batch, TextBatch) else "three-branch", seed=7)
    if isinstance(batch, TextBatch):
        tokens = batch.tokens.clone()
        tokens[:, t + 1 :] = other.tokens[:, t + 1 :]
        return TextBatch(tokens)
    parts = [batch.notes.clone(), batch.context.clone(), batch.position.clone()]
    for part, new in zip(
        parts, (other.notes, other.context, (other.position + 5) % 16), strict=True
    ):
        part[:, t + 1 :] = new[:, t + 1 :]
    return NoteBatch(*parts)


PROBE = random_batch("three-branch", seed=11).notes  # fixed frames every distribution scores


def tensors(output, steps: slice = slice(None)) -> list[torch.Tensor]:
    """A note family's distribution as its conditionals and log p of the same probe frames
    (`steps`: which probe frames the output's steps score); a text family's logits as is."""
    if hasattr(output, "conditionals"):
        probe = PROBE[:, steps]
        c = output.conditionals(probe)
        log_p = output.log_prob(probe)
        return [c.pressed_logits, c.articulated_logits, c.velocity, log_p]
    return [output]


@pytest.mark.parametrize(("name", "backbone"), CASES)
def test_model_keeps_the_protocol(name, backbone):
    model = tiny_model(name, backbone)
    latent = zoo.get(name).inputs == "segments"
    assert isinstance(model, LatentModel if latent else SequenceModel)
    batch = random_batch(name)
    loss, parts = model.loss(batch, model(batch))
    assert loss.ndim == 0 and torch.isfinite(loss) and parts


@pytest.mark.parametrize(("name", "backbone"), SEQUENTIAL)
def test_output_at_t_never_sees_frames_after_t(name, backbone):
    model = tiny_model(name, backbone)
    batch = random_batch(name)
    with torch.no_grad():
        before = tensors(model(batch))
        for t in (0, STEPS // 2, STEPS - 2):
            after = tensors(model(changed_after(batch, t)))
            for old, new in zip(before, after, strict=True):
                torch.testing.assert_close(old[:, : t + 1], new[:, : t + 1], rtol=0, atol=1e-6)
            assert not torch.equal(before[0][:, t + 1 :], after[0][:, t + 1 :])  # the change shows


@pytest.mark.parametrize(("name", "backbone"), SEQUENTIAL)
def test_step_by_step_reproduces_forward(name, backbone):
    model = tiny_model(name, backbone)
    batch = random_batch(name)
    with torch.no_grad():
        whole = tensors(model(batch))
        state, stepped = model.initial_state(2), []
        for t in range(STEPS):
            output, state = model.step(state, frames(batch, t))
            stepped.append(tensors(output, slice(t, t + 1)))
    for i, expected in enumerate(whole):
        got = torch.cat([outputs[i] for outputs in stepped], dim=1)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [f.name for f in zoo.families()])
def test_unknown_backbone_is_refused_by_name(name):
    with pytest.raises(ValueError, match="backbone 'rnn'"):
        zoo.get(name).make_config("tiny", backbone="rnn")


def test_unknown_family_suggests_the_close_name():
    with pytest.raises(ValueError, match="did you mean 'char-rnn'"):
        zoo.get("char_rnn")
