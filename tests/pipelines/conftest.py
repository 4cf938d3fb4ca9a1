"""Fixtures of the ingest tests: the mixed corpus (ingest_corpus.py) and one clean run over it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from mg.pipelines.ingest import IngestReport, ingest
from tests.pipelines.ingest_corpus import HERE, Corpus, build_corpus, corpus_config


@pytest.fixture(scope="session", autouse=True)
def crash_parser_importable():
    """The guard's child process imports `crash_parser` from this folder."""
    patch = pytest.MonkeyPatch()
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    patch.setenv("PYTHONPATH", os.pathsep.join(paths))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def corpus(folk_midi, tmp_path_factory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus") / "in", folk_midi)


@dataclass(frozen=True)
class Run:
    out: Path
    report: IngestReport


@pytest.fixture(scope="session")
def clean_run(corpus, tmp_path_factory) -> Run:
    out = tmp_path_factory.mktemp("clean") / "dataset"
    return Run(out, ingest(corpus_config(corpus, out)))
