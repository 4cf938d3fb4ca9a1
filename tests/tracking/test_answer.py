"""The served model's answer (mg.tracking.answer, mg.tracking.endpoint) in process, on the tiny
model trained on Nottingham tunes (tests/fixtures/generation.py): the same MIDI as `mg generate`,
notes that describe it, and one line for every bad request."""

from __future__ import annotations

import base64
import io
from dataclasses import fields

import pretty_midi
import pytest

from mg.generation.generate import GenerateOptions, generate
from mg.generation.sampling import SamplingOptions
from mg.kinds.notes import read_primer
from mg.models import registry
from mg.models.saving import load_model, save_model
from mg.tracking.answer import answer
from mg.tracking.endpoint import BadRequest, GenerateRequest, UsedOptions
from tests.fixtures.generation import GRID


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load_model(tiny_model[1])


def midi_of(piece: dict) -> bytes:
    return base64.b64decode(piece["midi"])


def generated_files(folder, tmp_path, **options) -> list[bytes]:
    primer = options.pop("primer", None)
    keep = options.pop("keep_primer", True)
    sampling = SamplingOptions(**options)
    out = tmp_path / "out"
    result = generate(str(folder), GenerateOptions(sampling, primer, keep, out))
    return [piece.midi.read_bytes() for piece in result.pieces]


def test_a_request_answers_the_bytes_mg_generate_writes(loaded, tiny_model, tmp_path):
    pieces = answer(loaded, {"seed": 3, "steps": 40, "num": 2, "temperature": 0.9})
    assert [(p["request"], p["index"]) for p in pieces] == [(0, 0), (0, 1)]
    files = generated_files(tiny_model[1], tmp_path, seed=3, steps=40, num=2, temperature=0.9)
    assert [midi_of(p) for p in pieces] == files
    assert midi_of(pieces[0]) != midi_of(pieces[1])


def test_notes_are_the_notes_of_the_midi(loaded):
    (piece,) = answer(loaded, [{"seed": 1, "steps": 64}])
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_of(piece)))
    expected = sorted(
        (round(n.start, 6), n.pitch, round(n.end, 6), n.velocity) for n in midi.instruments[0].notes
    )
    got = [(n["start"], n["pitch"], n["end"], n["velocity"]) for n in piece["notes"]]
    assert got == expected and len(got) > 0
    seconds_per_step = 0.5 / GRID.steps_per_beat  # 120 BPM
    for note in piece["notes"]:
        assert note["start"] == pytest.approx(note["start_step"] * seconds_per_step)
        assert note["end"] == pytest.approx(note["end_step"] * seconds_per_step)
        assert note["track"] == 0 and GRID.low <= note["pitch"] <= GRID.high
    assert piece["steps"] == 64 and piece["seconds"] == pytest.approx(64 * seconds_per_step)
    assert piece["abc"] is None


def test_tempo_and_instrument_are_the_midis_as_in_mg_generate(loaded, tiny_model, tmp_path):
    (piece,) = answer(loaded, {"seed": 2, "steps": 32, "tempo": 90.0, "program": 40})
    sampling = SamplingOptions(steps=32, seed=2)
    options = GenerateOptions(sampling, out=tmp_path / "out", tempo_bpm=90.0, program=40)
    (written,) = generate(str(tiny_model[1]), options).pieces
    assert midi_of(piece) == written.midi.read_bytes()
    midi = pretty_midi.PrettyMIDI(io.BytesIO(midi_of(piece)))
    assert midi.instruments[0].program == 40
    assert piece["seconds"] == pytest.approx(32 * 60 / 90 / GRID.steps_per_beat)
    assert piece["options"]["tempo"] == 90.0 and piece["options"]["program"] == 40


def test_options_come_back_filled_in_and_repeat_the_piece(loaded):
    (first,) = answer(loaded, {"seed": 7, "steps": 32, "top_p": 0.9})
    used = first["options"]
    assert used["seed"] == 7 and used["steps"] == 32 and used["top_p"] == 0.9
    assert used["num"] == 1 and used["temperature"] == 1.0 and used["keep_primer"] is True
    assert used["primer_length"] == 0 and used["key"] is None
    again = {k: v for k, v in used.items() if k != "primer_length" and v is not None}
    (second,) = answer(loaded, again)
    assert second["midi"] == first["midi"]


def test_every_sampling_option_is_in_the_signature():
    """A control added to SamplingOptions must be added to the request and the answer too."""
    names = {f.name for f in fields(SamplingOptions)}
    assert names <= set(GenerateRequest.model_fields)
    assert names <= set(UsedOptions.model_fields)


def test_a_midi_primer_in_base64_starts_the_pieces_as_mg_generate(
    loaded, tiny_model, generation_corpus, tmp_path
):
    path = generation_corpus.midi[1]
    primer = base64.b64encode(path.read_bytes()).decode()
    request = {"seed": 2, "steps": 16, "primer": primer}
    (kept,) = answer(loaded, request)
    (stripped,) = answer(loaded, {**request, "keep_primer": False})
    length = len(read_primer(path, GRID))
    assert kept["options"]["primer_length"] == length and kept["steps"] == length + 16
    assert stripped["steps"] == 16
    files = generated_files(tiny_model[1], tmp_path, seed=2, steps=16, primer=path)
    assert midi_of(kept) == files[0]


def test_an_abc_primer_is_text(loaded, tiny_model, generation_corpus, tmp_path):
    text = generation_corpus.abc.read_text(errors="replace")
    (piece,) = answer(loaded, {"seed": 4, "steps": 16, "primer": text})
    files = generated_files(tiny_model[1], tmp_path, seed=4, steps=16, primer=generation_corpus.abc)
    assert midi_of(piece) == files[0] and piece["options"]["primer_length"] > 0


def test_char_rnn_answers_its_abc_tune_and_the_midi_of_it(tmp_path):
    family = registry.get("char-rnn")
    model = family.build(family.make_config("tiny", GRID))
    folder = save_model(tmp_path / "char-rnn", family.name, model, GRID)
    pieces = answer(load_model(folder), {"seed": 1, "steps": 120, "num": 3})
    files = generate(str(folder), GenerateOptions(SamplingOptions(120, 3, 1), out=tmp_path / "o"))
    for piece, written in zip(pieces, files.pieces, strict=True):
        assert piece["abc"] == written.abc.read_text() and piece["abc"].startswith("X:")
        if written.midi is None:
            assert piece["midi"] is None and piece["notes"] == [] and piece["steps"] == 0
        else:
            assert midi_of(piece) == written.midi.read_bytes()


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ({"steps": -5}, "steps: input should be greater than or equal to 1"),
        ({"stepz": 3}, "unknown option 'stepz'"),
        ({"steps": "64"}, "steps: input should be a valid integer"),
        ({"temperature": 0}, "temperature: input should be greater than 0"),
        ({"top_p": 1.5}, "top_p"),
        ({"num": 65}, "num"),
        ({"tempo": 1000}, "tempo: input should be less than or equal to 400"),
        ({"program": 128}, "program"),
        ({"primer": "hello world"}, "primer: neither ABC text"),
        ({"primer": base64.b64encode(b"RIFF....WAVE").decode()}, "no MThd header"),
        ({"primer": "X:1\nT:no notes\nK:G\n"}, "primer (abc)"),
        ({"key": "H:minor"}, "key 'H:minor': expected TONIC[:MODE]"),
        ({"meter": "7/0"}, "meter: "),
        ([{"seed": 1}, {"seed": "x"}], "request 1: seed"),
        ([], "no request"),
        ("seed=1", "expected a list of option objects"),
        ([{"num": 40}, {"num": 40}], "80 pieces"),
    ],
)
def test_a_bad_request_is_one_line_naming_the_problem(loaded, request_, words):
    with pytest.raises(BadRequest) as caught:
        answer(loaded, request_)
    error = caught.value
    # the scoring server prefixes the request's repr and a line break; the client gets ours
    error.message = f"Failed to predict data '{request_}'. \nError: {error.message}"
    assert words in error.message and "\n" not in error.message
    assert error.get_http_status_code() == 400


def test_a_dataframe_is_a_request_per_row(loaded):
    import pandas as pd

    rows = pd.DataFrame([{"seed": 1, "steps": 16}, {"seed": 2, "steps": None}])
    pieces = answer(loaded, rows)
    assert [(p["request"], p["options"]["seed"], p["steps"]) for p in pieces] == [
        (0, 1, 16),
        (1, 2, GRID.segment_steps),  # an empty cell is the default
    ]
