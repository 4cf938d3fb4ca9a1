"""`mg ingest` as a user runs it: a dataset and one summary line, or one error line and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mg.cli.app import app


def run(*args: str):
    return CliRunner().invoke(app, ["ingest", *args])


@pytest.fixture(scope="module")
def tunes(folk_midi) -> Path:
    """Folk tunes as MIDI (tests/fixtures/corpora.py)."""
    return folk_midi


def corpus(folder: Path, tunes: Path, *names: str, bad: bool = False) -> Path:
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(tunes / name)
    if bad:
        (folder / "broken.mid").write_bytes(b"MThd\x00\x00")
    return folder


@pytest.fixture
def dataset(tmp_path, tunes) -> Path:
    """A first run: two tunes and a broken file, with a Beam option passed after `--`."""
    folder = corpus(tmp_path / "in", tunes, "oneills-001.mid", "oneills-002.mid", bad=True)
    out = tmp_path / "out"
    result = run(
        str(folder),
        "--out",
        str(out),
        "--workers",
        "1",
        "--transpose=-1:1",
        "--split",
        "1/0/0",
        "--",
        "--job_name=mg-cli-test",
    )
    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith(
        "ingest: 3 files, 2 pieces (train 2 / valid 0 / test 0)"
    )
    assert "1 rejected (truncated 1)" in summary[0]
    return out


def test_ingest_writes_the_dataset_and_passes_beam_options_through(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["options"]["beam_args"] == ["--job_name=mg-cli-test"]
    assert (
        manifest["options"]["transpose"] == [-1, 1] and manifest["splits"]["train"]["pieces"] == 2
    )
    assert sorted(p.name for p in (dataset / "valid").iterdir()) == ["part-00000-of-00001.parquet"]
    [line] = (dataset / "rejected" / "rejected.jsonl").read_text().splitlines()
    assert json.loads(line)["path"] == "broken.mid"


def test_a_dataset_of_another_corpus_is_refused_unless_overwrite(dataset, tunes, tmp_path):
    other = corpus(tmp_path / "other", tunes, "oneills-003.mid")
    refused = run(str(other), "--out", str(dataset), "--workers", "1")
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        f"mg: error: {dataset} holds a dataset of another corpus (3 files); pass --overwrite to replace it"
    )
    replaced = run(str(other), "--out", str(dataset), "--workers", "1", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["corpus"]["files"] == 1 and not list(dataset.glob(".staging-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "0.5/0.5"], "--split must look like TRAIN/VALID/TEST"),
        (["--transpose", "up"], "--transpose must look like LOW:HIGH"),
        (["--pitch-range", "90:30"], "low <= high"),
        (["--wokers", "2"], "unknown option(s) --wokers 2"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_options_are_one_line_and_exit_1(tmp_path, tunes, args, message):
    folder = corpus(tmp_path / "in", tunes, "oneills-001.mid")
    result = run(str(folder), "--out", str(tmp_path / "out"), *args)
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("mg: error: ") and message in line
    assert not (tmp_path / "out").exists()


def test_a_flink_command_line_becomes_flink_options():
    """What `mg ingest corpus/ --out o --runner FlinkRunner -- --flink_master=… ` hands to Beam,
    without starting Flink: click gives the inputs and the Beam options together."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, StandardOptions

    from mg.cli.ingest_cmd import _split_beam_args
    from mg.pipelines.options import IngestConfig, pipeline_options

    tokens = ["corpus/", "more/", "--flink_master=flink:8081", "--parallelism", "16"]
    inputs, beam_args = _split_beam_args(tokens)
    assert inputs == ["corpus/", "more/"]
    config = IngestConfig(tuple(inputs), "out", runner="FlinkRunner", beam_args=tuple(beam_args))
    options = pipeline_options(config)
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    flink = options.view_as(FlinkRunnerOptions)
    assert (flink.flink_master, flink.parallelism) == ("flink:8081", 16)


def test_a_folder_that_is_not_a_dataset_is_refused(tmp_path, tunes):
    folder = corpus(tmp_path / "in", tunes, "oneills-001.mid")
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("keep me")
    result = run(str(folder), "--out", str(out))
    assert result.exit_code == 1 and "not an mg dataset" in result.output
    assert (out / "chapter1.tex").read_text() == "keep me"


def test_nothing_usable_is_one_line_and_exit_1(tmp_path, tunes):
    folder = corpus(tmp_path / "in", tunes, bad=True)
    result = run(str(folder), "--out", str(tmp_path / "out"), "--workers", "1")
    assert result.exit_code == 1
    assert result.output.strip() == "mg: error: nothing usable in 1 file (rejected: truncated 1)"
    assert not (tmp_path / "out").exists()
