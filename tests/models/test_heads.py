"""The output heads: exact, normalised distributions that the sampler and the loss share.

With α = 8 pitches every one of the 256 pressed frames can be scored, so normalisation and the
sampled frequencies are checked against the distribution itself, for every note family that
takes a head, every backbone and every head.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from mg import zoo
from mg.models.heads import HEADS, Controls
from mg.models.protocol import NoteBatch
from mg.representation.grid import Grid

GRID = Grid(low=60, high=67)  # α = 8
ALPHA = GRID.alpha
ALL_FRAMES = torch.tensor(list(itertools.product([0.0, 1.0], repeat=ALPHA)))  # [256, α]
CASES = [
    (family.name, backbone, head)
    for family in zoo.families()
    if family.inputs == "notes" and "head" in family.config_cls.__dataclass_fields__
    for backbone in family.backbones
    for head in HEADS
]


def tiny(name: str, backbone: str, head: str) -> torch.nn.Module:
    family = zoo.get(name)
    torch.manual_seed(0)
    model = family.build(family.make_config("tiny", GRID, backbone=backbone, head=head)).eval()
    with torch.no_grad():  # livelier than at initialisation: frames of several pitches
        model.head.set_pressed_prior(torch.linspace(-2.0, 1.0, ALPHA))
    return model


def batch(rows: int = 2, steps: int = 4, seed: int = 1) -> NoteBatch:
    generator = torch.Generator().manual_seed(seed)
    pressed = (torch.rand(rows, steps, ALPHA, generator=generator) < 0.4).float()
    notes = torch.stack([pressed, pressed, pressed * 0.7], dim=-1)
    context = torch.rand(rows, steps, ALPHA, 3, generator=generator)
    position = torch.arange(steps).remainder(GRID.gamma).repeat(rows, 1)
    return NoteBatch(notes, context, position)


def frames_of(pressed: torch.Tensor) -> torch.Tensor:
    """Pressed rolls [..., α] as note frames [..., α, 3]."""
    return torch.stack([pressed, pressed, pressed * 0.5], dim=-1)


def all_frame_log_probs(distribution, rows: int, steps: int) -> torch.Tensor:
    """log p of each of the 256 frames at every step: [256, rows, steps]."""
    return torch.stack(
        [distribution.log_prob(frames_of(frame.expand(rows, steps, ALPHA))) for frame in ALL_FRAMES]
    )


@pytest.mark.parametrize(("name", "backbone", "head"), CASES)
def test_every_head_is_normalised_over_all_256_frames(name, backbone, head):
    model, notes = tiny(name, backbone, head), batch()
    with torch.no_grad():
        log_p = all_frame_log_probs(model(notes), 2, 4)
    total = log_p.exp().sum(0)
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("name", "backbone", "head"), CASES)
def test_step_gives_the_distribution_forward_scores(name, backbone, head):
    """The distribution a generation step returns scores every frame as the training pass
    does: the probability the sampler uses is the one training scores."""
    model, notes = tiny(name, backbone, head), batch()
    with torch.no_grad():
        whole = all_frame_log_probs(model(notes), 2, 4)
        state, stepped = model.initial_state(2), []
        for t in range(4):
            frame = NoteBatch(
                *(x[:, t : t + 1] for x in (notes.notes, notes.context, notes.position))
            )
            distribution, state = model.step(state, frame)
            stepped.append(all_frame_log_probs(distribution, 2, 1))
    torch.testing.assert_close(torch.cat(stepped, dim=-1), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("head", "controls"),
    [(head, Controls()) for head in HEADS]
    + [(head, Controls(max_polyphony=2)) for head in HEADS]
    + [("independent", Controls(temperature=0.7))],
)
def test_the_sampler_reports_the_probability_of_what_it_drew(head, controls):
    """log q the sampler returns equals log_prob at temperature 1 without a cap, and always
    equals the log of the frequency it draws the frame with (checked on 20,000 draws). (nade
    tempers by resampling whole frames: the next test.)"""
    model = tiny("three-branch", "lstm", head)
    rows = 20_000
    one = batch(rows=1, steps=3)
    repeated = NoteBatch(
        *(x.expand(rows, *x.shape[1:]) for x in (one.notes, one.context, one.position))
    )
    with torch.no_grad():
        distribution = model(repeated).time_slice(slice(-1, None))
        drawn = distribution.sample(torch.Generator().manual_seed(0), controls)
        scored = distribution.log_prob(frames_of(drawn.pressed.float()[:, None]))[:, 0]
    if controls.temperature == 1.0 and controls.max_polyphony is None:
        torch.testing.assert_close(drawn.log_prob, scored.double(), rtol=1e-5, atol=1e-5)
    codes = (drawn.pressed.long() * (2 ** torch.arange(ALPHA - 1, -1, -1))).sum(-1)
    frequency = torch.bincount(codes, minlength=256).double() / rows
    q = torch.zeros(256, dtype=torch.float64).index_put_((codes,), drawn.log_prob.exp())
    assert (frequency - q).abs().sum() / 2 < 0.04  # total variation, sampling noise ~0.02
    if controls.max_polyphony is not None:
        assert drawn.pressed.sum(-1).max() <= controls.max_polyphony


def nade_draws(controls: Controls, rows: int = 8_000) -> tuple[torch.Tensor, torch.Tensor]:
    """(frequency of each of the 256 frames in `rows` draws, the model's log p of each)."""
    model, one = tiny("three-branch", "lstm", "nade"), batch(rows=1, steps=3)
    repeated = NoteBatch(
        *(x.expand(rows, *x.shape[1:]) for x in (one.notes, one.context, one.position))
    )
    with torch.no_grad():
        log_p = all_frame_log_probs(model(one).time_slice(slice(-1, None)), 1, 1)[:, 0, 0]
        distribution = model(repeated).time_slice(slice(-1, None))
        drawn = distribution.sample(torch.Generator().manual_seed(0), controls)
    codes = (drawn.pressed.long() * (2 ** torch.arange(ALPHA - 1, -1, -1))).sum(-1)
    return torch.bincount(codes, minlength=256).double() / rows, log_p.double()


def test_nade_tempers_whole_frames():
    """At temperature 0.5 nade draws frames from p(frame)^2, renormalised (resampling 64
    drawn frames: total variation 0.025 measured, sampling noise about 0.02), not from each
    conditional tempered; rests grow no likelier than p^2 makes them."""
    frequency, log_p = nade_draws(Controls(temperature=0.5, candidates=64))
    tempered, plain = torch.softmax(log_p / 0.5, 0), log_p.exp()
    assert (frequency - tempered).abs().sum() / 2 < 0.05
    assert (frequency - plain).abs().sum() / 2 > 0.2
    assert frequency[0] < 2 * tempered[0] + 0.002  # frame 0 is the rest


def test_nade_top_p_keeps_the_likeliest_frames():
    """Top-p 0.5 draws (almost) only frames of the nucleus: the likeliest frames that hold
    half of p; the nucleus is estimated from the 64 drawn frames, so its edge is soft."""
    frequency, log_p = nade_draws(Controls(top_p=0.5, candidates=64))
    ordered = log_p.exp().sort(descending=True)
    inside = ordered.indices[: int((ordered.values.cumsum(0) < 0.5).sum()) + 1]
    assert frequency[inside].sum() > 0.9


@pytest.mark.parametrize("head", list(HEADS))
def test_greedy_takes_the_likelier_value_of_every_choice(head):
    """The greedy decode (a VAE's reconstruction): every pitch pressed exactly when its
    conditional, given the pitches chosen below it, is at least even."""
    model, notes = tiny("three-branch", "lstm", head), batch(rows=6, steps=3)
    with torch.no_grad():
        distribution = model(notes).time_slice(slice(-1, None))
        drawn = distribution.sample(torch.Generator().manual_seed(0), Controls(greedy=True))
        chosen = frames_of(drawn.pressed.float()[:, None])
        logits = distribution.conditionals(chosen).pressed_logits[:, 0]
    assert torch.equal(logits >= 0, drawn.pressed)
    assert drawn.pressed.any()


def test_the_independent_head_capped_draws_the_exact_conditional():
    """For independent pitches, p(frame | at most N pitches) is known in closed form."""
    model = tiny("three-branch", "gru", "independent")
    one = batch(rows=1, steps=2)
    with torch.no_grad():
        distribution = model(one).time_slice(slice(-1, None))
        log_p = all_frame_log_probs(distribution, 1, 1)[:, 0, 0].double()
        rows = 20_000
        wide = distribution.output.pressed_logits.expand(rows, 1, ALPHA)
        from mg.models.heads.independent import IndependentFrame
        from mg.models.protocol import NoteOutput

        many = IndependentFrame(NoteOutput(wide, wide, torch.sigmoid(wide)))
        drawn = many.sample(torch.Generator().manual_seed(2), Controls(max_polyphony=2))
    allowed = ALL_FRAMES.sum(-1) <= 2
    expected = torch.where(allowed, log_p.exp(), 0.0)
    expected = expected / expected.sum()
    codes = (drawn.pressed.long() * (2 ** torch.arange(ALPHA - 1, -1, -1))).sum(-1)
    frequency = torch.bincount(codes, minlength=256).double() / rows
    assert (frequency - expected).abs().sum() / 2 < 0.03
    q = torch.zeros(256, dtype=torch.float64).index_put_((codes,), drawn.log_prob.exp())
    torch.testing.assert_close(q[allowed][q[allowed] > 0], expected[allowed][q[allowed] > 0])


def test_a_low_temperature_never_silences_the_independent_head():
    """Cooling chooses likelier pitches but keeps the model's number of notes."""
    model = tiny("pianoroll-rnn", "lstm", "independent")
    rows, one = 4_000, batch(rows=1, steps=2)
    repeated = NoteBatch(
        *(x.expand(rows, *x.shape[1:]) for x in (one.notes, one.context, one.position))
    )
    with torch.no_grad():
        distribution = model(repeated).time_slice(slice(-1, None))
        warm = distribution.sample(torch.Generator().manual_seed(0), Controls())
        cold = distribution.sample(torch.Generator().manual_seed(0), Controls(temperature=0.2))
    warm_notes, cold_notes = warm.pressed.sum(-1).double(), cold.pressed.sum(-1).double()
    assert abs(cold_notes.mean() - warm_notes.mean()) < 0.1
    top = distribution.output.pressed_logits[0, 0].argmax()
    assert cold.pressed[:, top].double().mean() > warm.pressed[:, top].double().mean()


def test_an_unknown_head_is_refused_by_name():
    family = zoo.get("pianoroll-rnn")
    with pytest.raises(ValueError, match="unknown head 'made'; choose one of independent, nade"):
        family.build(family.make_config("tiny", head="made"))
