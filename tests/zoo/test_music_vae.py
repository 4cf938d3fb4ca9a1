"""music-vae on real folk tunes: a short fit reconstructs its segments, interpolation and
sampling behave, a bad primer is one line, and it trains and evaluates through `mg`."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from mg import zoo
from mg.cli.app import app
from mg.data.notes import Dataset, SegmentStream, to_batch
from mg.generation import latent
from mg.generation.writing import midi_bytes
from mg.kinds import kind_of
from mg.models.protocol import LatentModel, NoteBatch
from mg.models.saving import load_model, save_model
from mg.representation.grid import Grid
from mg.zoo.music_vae import reconstruction_counts, window_starts

FIT_STEPS = 400
FITTED = 2  # of the windows, those the short fit learns (the others are only encoded)


def windows(dataset: Dataset, model, count: int = 4) -> NoteBatch:
    """The first `count` 2-bar windows (at real bar lines) of the train split's segments."""
    loader = DataLoader(SegmentStream(dataset, "train"), batch_size=2)
    notes, position, _ = model.windows(to_batch(next(iter(loader))))
    return NoteBatch(notes[:count], notes[:count], position[:count])


@pytest.fixture(scope="module")
def fitted(folk_dataset, tmp_path_factory):
    """A small music-vae fitted on a few real segments; saved as a model folder too."""
    dataset = Dataset.open(folk_dataset)
    family = zoo.get("music-vae")
    torch.manual_seed(0)
    config = family.make_config("tiny", dataset.grid, hidden=128, latent=32, kl_warmup=50)
    model = family.build(config)
    batch = windows(dataset, model)
    learnt = NoteBatch(*(part[:FITTED] for part in (batch.notes, batch.context, batch.position)))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(FIT_STEPS):
        model.set_step(step)
        loss, _ = model.loss(learnt, model(learnt))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    folder = tmp_path_factory.mktemp("vae") / "model"
    save_model(folder, "music-vae", model, dataset.grid)
    return model, batch, dataset.grid, folder


def primer_file(notes: np.ndarray, grid: Grid, path: Path) -> Path:
    path.write_bytes(midi_bytes(notes, grid))
    return path


def test_music_vae_is_a_latent_segment_family():
    family = zoo.get("music-vae")
    assert family.inputs == "segments" and kind_of(family).selection_metric == "valid/elbo"
    assert set(family.presets) >= {"tiny", "2bar", "16bar"}
    assert family.make_config("16bar").bars == 16 and family.make_config("2bar").bars == 2
    model = family.build(family.make_config("tiny", backbone="gru"))
    assert isinstance(model, LatentModel) and model.segment_steps == 32


def test_windows_start_at_real_bar_lines():
    # 3/4 bars of 12 steps in a 64-step segment: 32-step windows start at bar lines 0 and 24
    assert window_starts([0, 12, 24, 36, 48, 60], 64, 32) == [0, 24]
    assert window_starts([0, 16, 32, 48], 64, 32) == [0, 32]
    assert window_starts([0], 40, 32) == [0]


def test_encode_decode_round_trip_after_a_short_fit(fitted):
    model, batch, _, _ = fitted
    learnt = NoteBatch(batch.notes[:FITTED], batch.notes[:FITTED], batch.position[:FITTED])
    with torch.no_grad():
        mu, _ = model.encode(learnt)
    decoded = torch.from_numpy(latent.decode_greedy(model, mu, learnt.position))
    counts = reconstruction_counts(decoded, learnt.notes)
    frames = learnt.notes.shape[0] * learnt.notes.shape[1]
    assert float(counts["exact_frames"]) / frames >= 0.9
    assert float(counts["note_hits"]) / float(counts["notes_target"]) >= 0.8


def test_interpolating_a_piece_with_itself_returns_it_at_every_step(fitted, tmp_path):
    model, batch, grid, _ = fitted
    segment = latent.SegmentPrimer(
        (batch.notes[0].numpy() * np.array([1, 1, 127])).round().astype(np.uint8),
        batch.position[0].numpy().astype(np.int16),
    )
    pieces, points = latent.interpolate(model, segment, segment, 5)
    assert pieces.shape == (5, model.segment_steps, grid.alpha, 3)
    assert all(np.array_equal(piece, pieces[0]) for piece in pieces)
    assert torch.equal(points[0], points[-1])
    mu = latent.encode_mean(model, [segment])
    assert np.array_equal(latent.decode_greedy(model, mu, segment.position)[0], pieces[0])


def test_slerp_keeps_its_ends_and_walks_the_sphere():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(latent.slerp(a, b, 0.0), a) and torch.allclose(latent.slerp(a, b, 1.0), b)
    middle = latent.slerp(a, b, 0.5)  # on the unit circle, not inside it as a lerp would be
    assert torch.allclose(middle, torch.tensor([1.0, 1.0]) / 2**0.5)
    assert torch.allclose(latent.slerp(a, a, 0.3), a)  # one end twice: that end


def run(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def files_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.mid"))}


def test_seeded_sampling_and_variations_are_byte_identical(fitted, tmp_path):
    model, batch, grid, folder = fitted
    primer = primer_file(
        (batch.notes[2].numpy() * np.array([1, 1, 127])).round().astype(np.uint8),
        grid,
        tmp_path / "primer.mid",
    )
    outputs = {}
    for name, extra in {
        "prior": ["--num", 3],
        "prior-again": ["--num", 3],
        "other-seed": ["--num", 3, "--seed", 1],
        "variations": ["--primer", primer, "--variations", 3],
        "variations-again": ["--primer", primer, "--variations", 3],
    }.items():
        result = run("generate", "--model-uri", folder, "--out", tmp_path / name, *extra)
        assert result.exit_code == 0, result.output
        outputs[name] = files_bytes(tmp_path / name)
        assert len(outputs[name]) == 3
    assert outputs["prior"] == outputs["prior-again"]
    assert outputs["variations"] == outputs["variations-again"]
    assert outputs["prior"] != outputs["other-seed"]
    assert list(outputs["prior"].values())[0] != list(outputs["prior"].values())[1]


def test_variations_stay_near_their_primer(fitted):
    model, batch, grid, _ = fitted
    segment = latent.SegmentPrimer(
        (batch.notes[1].numpy() * np.array([1, 1, 127])).round().astype(np.uint8),
        batch.position[1].numpy().astype(np.int16),
    )
    options = kind_of("segments").piece_options(grid, 4, 0)
    near = latent.variations(model, grid, options, segment)
    prior = latent.sample_prior(model, grid, options)
    distance = lambda pieces: float(  # noqa: E731
        np.mean([(p[..., 0] != segment.notes[..., 0]).mean() for p in pieces])
    )
    assert distance(near) < distance(prior)


def test_a_bad_primer_is_one_line_and_exit_1(fitted, tmp_path):
    _, batch, grid, folder = fitted
    one_bar = np.zeros((grid.gamma, grid.alpha, 3), np.uint8)
    one_bar[:, 30] = (1, 0, 80)
    one_bar[0, 30, 1] = 1
    short = primer_file(one_bar, grid, tmp_path / "short.mid")
    garbage = tmp_path / "noise.mid"
    garbage.write_bytes(b"this is not a MIDI file at all\n" * 4)
    for primer, words in ((short, "bar(s) of music"), (garbage, "noise.mid")):
        result = CliRunner().invoke(
            app,
            ["generate", "--model-uri", str(folder), "--primer", str(primer), "--variations", "2"],
        )
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("mg: error:") and words in lines[0]
    result = run("generate", "--model-uri", folder, "--variations", 2)
    assert result.exit_code == 2 and "--variations needs --primer" in result.output


def test_loading_unpickles_nothing(fitted, monkeypatch, tmp_path):
    import pickle

    model, batch, _, folder = fitted

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model must never unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load_model(folder)
    assert loaded.family.name == "music-vae" and loaded.model.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded.model.encode(batch)[0], model.encode(batch)[0])


def test_interpolate_writes_a_midi_per_point_and_one_picture(fitted, tmp_path):
    _, batch, grid, folder = fitted
    ends = [
        primer_file(
            (batch.notes[i].numpy() * np.array([1, 1, 127])).round().astype(np.uint8),
            grid,
            tmp_path / f"{name}.mid",
        )
        for i, name in ((0, "a"), (3, "b"))
    ]
    result = run("interpolate", "--model-uri", folder, *ends, "--steps", 4, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o").glob("*.mid"))) == 4
    assert len(list((tmp_path / "o").glob("*.png"))) == 1


def test_interpolate_on_a_model_without_latent_space_is_one_line(tmp_path):
    family = zoo.get("three-branch")
    folder = tmp_path / "ar"
    save_model(folder, "three-branch", family.build(family.make_config("tiny")), Grid())
    piece = np.zeros((64, Grid().alpha, 3), np.uint8)
    piece[:, 40] = (1, 0, 80)
    a = primer_file(piece, Grid(), tmp_path / "a.mid")
    result = run("interpolate", "--model-uri", folder, a, a)
    assert result.exit_code == 1
    assert "needs a latent model (music-vae); three-branch has no latent space" in result.output


def test_trains_logs_its_parts_and_evaluates_through_mg(folk_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run(
        "train", "--data", folk_dataset, "--model", "music-vae", "--preset", "tiny",
        "--max-steps", 6, "--epochs", 1, "--batch-size", 4, "--samples", 2,
        "--tracking-uri", store,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run_id = result.output.split("run ", 1)[1].split(":", 1)[0]
    metrics = mlflow.MlflowClient(store).get_run(run_id).data.metrics
    for name in ("train/recon", "train/kl", "train/beta", "valid/elbo", "valid/recon_exact"):
        assert np.isfinite(metrics[name]), name
    assert 0 <= metrics["valid/active_units"] <= 16 and 0 <= metrics["valid/note_f1"] <= 1
    evaluated = run(
        "evaluate", "--model-uri", f"runs:/{run_id}/model", "--data", folk_dataset,
        "--split", "valid", "--num", 2, "--tracking-uri", store,
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "a bound, NLL <= this" in evaluated.output and "recon_exact" in evaluated.output


def test_sampling_decodes_one_segment_per_piece(fitted):
    model, _, grid, _ = fitted
    options = kind_of("segments").piece_options(grid, 2, 5)
    pieces = kind_of("segments").sample(model, grid, options)
    assert pieces.shape == (2, model.segment_steps, grid.alpha, 3) and pieces.dtype == np.uint8
    assert list(islice(pieces[..., 0].any(-1).sum(-1), 2))  # frames with notes are counted


def test_frames_outside_the_music_are_not_scored():
    family = zoo.get("music-vae")
    torch.manual_seed(0)
    model = family.build(family.make_config("tiny")).eval()
    notes = torch.zeros(2, 32, 88, 3)
    notes[:, 8:, 40] = torch.tensor([1.0, 0.0, 0.6])
    notes[:, 8, 40, 1] = 1.0
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[:, 8:] = True  # the silence before the first note is not music
    position = torch.arange(32).remainder(16).repeat(2, 1)
    batch = NoteBatch(notes, notes, position, mask)
    with torch.no_grad():
        _, parts = model.loss(batch, model(batch))
    assert float(parts["frames"]) == 2 * 24
    silence = torch.zeros_like(notes)
    counts = reconstruction_counts(silence, notes, mask)  # right only on the unscored frames
    assert float(counts["exact_frames"]) == 0 and float(counts["notes_target"]) == 2


@pytest.mark.parametrize("over", ["unit", "total"])
def test_free_bits_cost_nothing_under_their_floor_and_beta_per_nat_above(over):
    """Per unit (each unit's batch-mean KL floored) or over the total (MusicVAE's
    max(KL − τ, 0)): under the floor the KL term pushes the posterior nowhere; above it, it
    costs β per nat per segment (a segment of 32 scored frames here)."""
    family = zoo.get("music-vae")
    torch.manual_seed(0)
    config = family.make_config("tiny", free_bits=1.0, free_bits_over=over, kl_warmup=0)
    model = family.build(config).train()
    notes = torch.zeros(4, 32, 88, 3)
    notes[:, :, 40] = torch.tensor([1.0, 0.0, 0.6])
    notes[:, ::4, 40, 1] = 1.0
    position = torch.arange(32).remainder(16).repeat(4, 1)
    batch = NoteBatch(notes, notes, position)
    output = model(batch)
    for scale, pushed in ((0.1, False), (3.0, True)):  # KL per unit ≈ 0.005, then ≈ 4.5 nats
        mu = torch.full_like(output.mu, scale).requires_grad_()
        logvar = torch.zeros_like(output.logvar)
        shifted = type(output)(output.distribution, mu, logvar, output.notes, output.position)
        loss, parts = model.loss(batch, shifted)
        (gradient,) = torch.autograd.grad(loss, mu)
        assert bool(gradient.abs().sum() > 0) == pushed
        if pushed:  # d(β·KL/frames)/dμ = β·μ / (N·frames) for each unit
            expected = config.beta * scale / (4 * 32)
            assert torch.allclose(gradient, torch.full_like(gradient, expected), rtol=1e-4)


def test_an_unknown_free_bits_definition_is_refused():
    family = zoo.get("music-vae")
    with pytest.raises(ValueError, match="free_bits_over"):
        family.build(family.make_config("tiny", free_bits_over="segment"))
