"""A shard damaged on disk (issue 18): a flipped bit in a tensor page fails that page's CRC
(ingest writes page checksums) and is one DatasetError naming the shard, through the streaming
dataset and through `mg train`, instead of a traceback that names no file. Every reader of
shards (the note stream, the text dataset, `mg evaluate`'s reference and copy check) opens them
through mg.data.notes.parquet_file, so each says the same."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mg.data.corpus import music21_corpus_dir
from mg.data.notes import Dataset, SegmentStream
from mg.data.text import tune_texts
from mg.errors import DatasetError
from mg.evaluation.evaluate import split_segments, training_frames
from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig
from mg.representation.grid import Grid

SHARD = "train/part-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    files = sorted((music21_corpus_dir() / "ryansMammoth").glob("*.abc"))[:10]
    out = tmp_path_factory.mktemp("damaged") / "clean"
    grid = Grid(bars=4, low=36, high=95)
    splits = (0.5, 0.5, 0.0)  # train and valid: what `mg train` needs
    ingest(
        IngestConfig(tuple(map(str, files)), str(out), grid, (0, 0), False, splits, 1, workers=1)
    )
    return out


def damaged(dataset: Path, folder: Path, column: str, where: float) -> Path:
    """A copy of `dataset` with one bit flipped inside `column`'s pages of the train shard."""
    copy = folder / f"{column}-{where}"
    shutil.copytree(dataset, copy)
    shard = copy / SHARD
    meta = pq.ParquetFile(shard).metadata.row_group(0)
    chunk = next(
        meta.column(i)
        for i in range(meta.num_columns)
        if meta.column(i).path_in_schema.startswith(column)
    )
    data = bytearray(shard.read_bytes())
    # inside the data pages: the chunk's size counts its dictionary page too, which comes first
    end = (chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size
    data[chunk.data_page_offset + int((end - chunk.data_page_offset) * where)] ^= 0x10
    shard.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize("column", ["notes", "context", "position"])
@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_a_flipped_bit_is_one_error_naming_the_shard(dataset, tmp_path, column, where):
    copy = damaged(dataset, tmp_path, column, where)
    with pytest.raises(DatasetError) as caught:
        list(SegmentStream(Dataset.open(copy), "train"))
    message = str(caught.value)
    assert str(copy / SHARD) in message and "damaged" in message and "\n" not in message


@pytest.mark.parametrize(
    ("column", "read"),
    [
        ("abc", lambda dataset: list(tune_texts(dataset, "train"))),  # char-rnn's data
        ("notes", lambda dataset: training_frames(dataset, 1000)),  # evaluate's copy check
        ("notes", lambda dataset: split_segments(dataset, "train", 1000)),  # its statistics
    ],
)
def test_every_reader_of_shards_names_the_damaged_one(dataset, tmp_path, column, read):
    copy = damaged(dataset, tmp_path, column, 0.95)  # in the last page's body, past its header
    with pytest.raises(DatasetError) as caught:
        read(Dataset.open(copy))
    message = str(caught.value)
    assert str(copy / SHARD) in message and "damaged" in message and "\n" not in message


def test_mg_train_on_a_damaged_shard_is_one_line(dataset, tmp_path):
    copy = damaged(dataset, tmp_path, "notes", 0.5)
    mg = Path(sys.executable).with_name("mg")
    args = [str(mg), "train", "--data", str(copy), "--preset", "tiny", "--epochs", "1"]
    args += ["--samples", "0", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    result = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("mg: error:")]
    assert str(copy / SHARD) in line and "Traceback" not in result.stderr
