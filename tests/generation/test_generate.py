"""`mg.generation.generate`: a model URI to files, on a model trained on folk tunes and a real
SQLite MLflow store (tests/fixtures/generation.py)."""

from __future__ import annotations

import io
import shutil
import wave

import mido
import numpy as np
import pretty_midi
import pytest
from mlflow import MlflowClient

from mg.errors import ModelLoadError
from mg.generation.generate import GenerateOptions, generate
from mg.generation.sampling import SamplingOptions, generate_notes
from mg.kinds.notes import read_primer
from mg.kinds.text import read_text_primer
from mg.models import registry
from mg.models.saving import load_model, save_model
from mg.representation import notes_to_midi_bytes, read_file
from tests.fixtures.generation import GRID

SECONDS_PER_STEP = 0.5 / GRID.steps_per_beat  # 120 BPM
TICK = 0.5 / GRID.ticks_per_beat  # the end-of-track event comes one tick after the end


@pytest.fixture(scope="module")
def model_folder(tiny_model):
    return tiny_model[1]


@pytest.fixture(scope="module")
def store(model_store):
    return model_store


def options(out, steps=64, num=2, seed=0, **kwargs) -> GenerateOptions:
    return GenerateOptions(SamplingOptions(steps=steps, num=num, seed=seed), out=out, **kwargs)


def midi_frames(path) -> np.ndarray:
    return read_file(path, GRID).pieces[0].notes


def test_k_files_that_parse_back_with_the_requested_length(model_folder, tmp_path):
    result = generate(str(model_folder), options(tmp_path, steps=96, num=3, seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"tiny-three-branch-s2-{i}.mid" for i in range(3)
    ]
    expected = generate_notes(
        load_model(model_folder).model, GRID, SamplingOptions(steps=96, num=3, seed=2)
    )
    for piece, notes in zip(result.pieces, expected, strict=True):
        parsed = pretty_midi.PrettyMIDI(str(piece.midi))
        assert len(parsed.instruments[0].notes) == piece.notes > 0
        assert parsed.time_signature_changes[0].numerator == GRID.beats_per_bar
        assert max(n.end for n in parsed.instruments[0].notes) <= 96 * SECONDS_PER_STEP
        assert mido.MidiFile(piece.midi).length == pytest.approx(
            96 * SECONDS_PER_STEP, abs=2 * TICK
        )
        again = midi_frames(piece.midi)  # the grid's decoder, read back by its encoder
        assert np.array_equal(again, notes[: len(again)]) and not notes[len(again) :].any()


def test_same_seed_same_bytes_and_another_seed_other_bytes(model_folder, tmp_path):
    first = generate(str(model_folder), options(tmp_path / "a", seed=4))
    again = generate(str(model_folder), options(tmp_path / "b", seed=4))
    other = generate(str(model_folder), options(tmp_path / "c", seed=5))
    for a, b, c in zip(first.pieces, again.pieces, other.pieces, strict=True):
        assert a.midi.read_bytes() == b.midi.read_bytes()
        assert a.midi.read_bytes() != c.midi.read_bytes()


def test_a_primer_is_kept_or_stripped_as_asked(model_folder, generation_corpus, tmp_path):
    primer_file = generation_corpus.midi[1]
    primer = read_primer(primer_file, GRID)
    bars = len(primer) // GRID.gamma
    assert len(primer) == bars * GRID.gamma and bars >= 1
    kept = generate(str(model_folder), options(tmp_path / "keep", primer=primer_file))
    stripped = generate(
        str(model_folder), options(tmp_path / "strip", primer=primer_file, keep_primer=False)
    )
    assert kept.primer_steps == stripped.primer_steps == len(primer)
    scale = 120.0 / kept.tempo_bpm  # the primer's tempo (see the next test)
    for with_primer, without in zip(kept.pieces, stripped.pieces, strict=True):
        assert mido.MidiFile(with_primer.midi).length == pytest.approx(
            (len(primer) + 64) * SECONDS_PER_STEP * scale, abs=2 * TICK * scale
        )
        assert mido.MidiFile(without.midi).length == pytest.approx(
            64 * SECONDS_PER_STEP * scale, abs=2 * TICK * scale
        )
        head = midi_frames(with_primer.midi)
        assert np.array_equal(head[: len(primer)], primer)
        tail = midi_frames(without.midi)
        assert np.array_equal(tail[..., 0], head[len(primer) : len(primer) + len(tail), :, 0])


def test_tempo_and_program_are_written_into_the_midi(model_folder, tmp_path):
    default = generate(str(model_folder), options(tmp_path / "default", num=1))
    slow = generate(
        str(model_folder), options(tmp_path / "slow", num=1, tempo_bpm=60.0, program=40)
    )
    midi = pretty_midi.PrettyMIDI(str(slow.pieces[0].midi))
    assert midi.get_tempo_changes()[1].tolist() == [60.0]
    assert [instrument.program for instrument in midi.instruments] == [40]  # violin
    before = pretty_midi.PrettyMIDI(str(default.pieces[0].midi))
    assert [instrument.program for instrument in before.instruments] == [0]
    assert midi.get_end_time() == pytest.approx(2 * before.get_end_time(), rel=1e-3)


def test_without_tempo_and_program_the_midi_takes_the_primers(
    model_folder, generation_corpus, tmp_path
):
    primer_file = tmp_path / "flute.mid"
    notes = read_primer(generation_corpus.midi[1], GRID)
    primer_file.write_bytes(notes_to_midi_bytes(notes, GRID, tempo_bpm=90.0, program=73))
    taken = generate(str(model_folder), options(tmp_path / "taken", num=1, primer=primer_file))
    asked = generate(
        str(model_folder),
        options(tmp_path / "asked", num=1, primer=primer_file, tempo_bpm=150.0, program=0),
    )
    assert (taken.tempo_bpm, taken.program, taken.from_primer) == (90.0, 73, ("tempo", "program"))
    assert (asked.tempo_bpm, asked.program, asked.from_primer) == (150.0, 0, ())
    for result, tempo, program in ((taken, 90.0, 73), (asked, 150.0, 0)):
        midi = pretty_midi.PrettyMIDI(str(result.pieces[0].midi))
        assert midi.get_tempo_changes()[1].tolist() == [pytest.approx(tempo, rel=1e-5)]
        assert [instrument.program for instrument in midi.instruments] == [program]


def test_png_beside_each_file(model_folder, tmp_path):
    result = generate(str(model_folder), options(tmp_path, png=True))
    for piece in result.pieces:
        assert piece.png == piece.midi.with_suffix(".png")
        assert piece.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None, reason="FluidSynth is not installed (make system-deps)"
)
def test_wav_is_real_audio_of_the_whole_piece(model_folder, tmp_path):
    result = generate(str(model_folder), options(tmp_path, num=1, wav=True))
    with wave.open(str(result.pieces[0].wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
        frames = np.frombuffer(audio.readframes(audio.getnframes()), dtype=np.int16)
    assert seconds >= 64 * SECONDS_PER_STEP
    assert np.abs(frames).max() > 100  # not silence


def test_every_uri_form_loads_the_same_model(store, tmp_path):
    """The registered model's pyfunc folder in the artifact store is also a local model URI."""
    client = MlflowClient(tracking_uri=store.uri)
    pyfunc_folder = client.get_model_version_download_uri(store.name, "1")
    uris = {
        f"runs:/{store.run_id}/model": f"run-{store.run_id[:8]}",
        f"models:/{store.name}@champion": f"{store.name}-champion",
        f"models:/{store.name}/1": f"{store.name}-v1",
        f"models:/{store.name}/latest": f"{store.name}-latest",
        pyfunc_folder: "artifacts",
    }
    outputs = []
    for i, (uri, name) in enumerate(uris.items()):
        result = generate(uri, options(tmp_path / str(i), num=1, tracking_uri=store.uri))
        assert result.pieces[0].midi.name == f"{name}-s0-0.mid"
        assert result.source.run_id == (store.run_id if i < 4 else None)
        outputs.append(result.pieces[0].midi.read_bytes())
    assert len(set(outputs)) == 1


def _not_a_model(tmp_path, store):
    note = tmp_path / "notes.txt"
    note.write_text("not a model\n")
    unknown = tmp_path / "unknown-family"
    family = registry.get("three-branch")
    grid_model = family.build(family.make_config("tiny", GRID))
    save_model(unknown, family.name, grid_model, GRID)
    text = (unknown / "config.json").read_text().replace('"three-branch"', '"no-such-family"')
    (unknown / "config.json").write_text(text)
    return {
        str(tmp_path / "missing"): "no such model folder",
        str(note): "not an mg model",
        str(tmp_path): "not an mg model",
        str(unknown): "unknown model family 'no-such-family'",
        f"runs:/{'0' * 32}/model": "not found",
        f"runs:/{store.run_id}/nothing": "nothing",
        f"models:/{store.name}@nope": "alias nope not found",
        "models:/no-such-model/1": "not found",
        "s3://bucket/model": "not a model URI",
    }


def test_bad_uris_get_one_clear_line(store, tmp_path):
    for uri, words in _not_a_model(tmp_path, store).items():
        with pytest.raises(ModelLoadError) as caught:
            generate(uri, options(tmp_path / "out", tracking_uri=store.uri))
        message = str(caught.value)
        assert uri in message and words in message and "\n" not in message


def test_char_rnn_writes_abc_and_the_midi_of_the_tunes_that_parse(tmp_path):
    family = registry.get("char-rnn")
    model = family.build(family.make_config("tiny", GRID))
    folder = save_model(tmp_path / "char-rnn", family.name, model, GRID)
    result = generate(str(folder), options(tmp_path / "out", steps=120, num=3, seed=1))
    assert result.family == "char-rnn" and result.parsed is not None
    abc = sorted((tmp_path / "out").glob("*.abc"))
    assert [p.name for p in abc] == [f"char-rnn-s1-{i}.abc" for i in range(3)]
    assert all(p.read_text().startswith("X:") for p in abc)
    midi = sorted((tmp_path / "out").glob("*.mid"))
    assert result.parsed == len(midi) == sum(p.midi is not None for p in result.pieces)
    for path in midi:
        pretty_midi.PrettyMIDI(io.BytesIO(path.read_bytes()))


def test_char_rnn_primer_is_kept_or_reduced_to_its_header(generation_corpus, tmp_path):
    abc_file = generation_corpus.abc
    family = registry.get("char-rnn")
    model = family.build(family.make_config("tiny", GRID))
    folder = save_model(tmp_path / "char-rnn", family.name, model, GRID)
    tune = read_text_primer(abc_file, GRID)
    header = tune[: tune.index("\nK:") + 1] + tune[tune.index("\nK:") + 1 :].split("\n")[0] + "\n"
    kept = generate(str(folder), options(tmp_path / "keep", steps=8, num=1, primer=abc_file))
    stripped = generate(
        str(folder), options(tmp_path / "strip", steps=8, num=1, primer=abc_file, keep_primer=False)
    )
    assert kept.pieces[0].abc.read_text().startswith(tune)
    text = stripped.pieces[0].abc.read_text()
    assert text.startswith(header) and not text.startswith(tune)
