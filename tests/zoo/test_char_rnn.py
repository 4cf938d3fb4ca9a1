"""char-rnn's data and generation: distinct tunes of a real ABC file, chunked without loss,
split across workers and ranks, and sampled back as ABC text that parses to music."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from mg import zoo
from mg.data.notes import Dataset
from mg.data.text import TUNE_SEPARATOR, TextStream, text_stats, tune_texts
from mg.data.vocabulary import Vocabulary, normalise
from mg.errors import DatasetError
from mg.generation.sampling import SamplingOptions
from mg.generation.text_sampling import DEFAULT_PRIMER, generate_text
from mg.representation import read_bytes, read_file
from mg.representation.grid import Grid


def all_tunes(dataset: Dataset, slot: int = 0, slots: int = 1) -> dict[str, str]:
    return {
        piece_id: text
        for split in ("train", "valid", "test")
        for piece_id, text in tune_texts(dataset, split, slot, slots)
    }


def test_text_dataset_holds_each_abc_tune_once(folk_dataset, abc_file):
    dataset = Dataset.open(folk_dataset)
    expected = {p.piece_id: p.abc for p in read_file(abc_file, Grid()).pieces}
    assert all_tunes(dataset) == expected  # no MIDI rows, no transposed or repeated segment rows
    stats = [text_stats(dataset, split) for split in ("train", "valid")]
    assert sum(s.tunes for s in stats) == len(expected) and stats[0].unknown == 0


def test_tunes_split_across_four_slots_without_overlap_or_loss(folk_dataset):
    dataset = Dataset.open(folk_dataset)
    shares = [all_tunes(dataset, slot, 4) for slot in range(4)]
    assert all(shares)
    assert sum(len(share) for share in shares) == len(all_tunes(dataset))
    assert {k: v for share in shares for k, v in share.items()} == all_tunes(dataset)


def test_chunks_join_back_into_the_tunes(folk_dataset):
    dataset = Dataset.open(folk_dataset)
    stream = TextStream(dataset, "train", length=50)
    vocabulary = stream.vocabulary
    chunks = list(stream)
    assert all(len(c["tokens"]) == 50 for c in chunks) and not chunks[-1]["mask"].all()
    pieces = [vocabulary.decode(chunks[0]["tokens"][chunks[0]["mask"]])]
    pieces += [vocabulary.decode(c["tokens"][1:][c["mask"][1:]]) for c in chunks[1:]]
    tunes = [text + TUNE_SEPARATOR for _, text in tune_texts(dataset, "train")]
    assert "".join(pieces) == normalise("".join(tunes))


def test_two_workers_and_two_ranks_predict_every_character_once(folk_dataset):
    dataset = Dataset.open(folk_dataset)
    targets = Counter()
    for rank in (0, 1):
        stream = TextStream(dataset, "train", length=64, rank=rank, world_size=2)
        for batch in DataLoader(stream, batch_size=8, num_workers=2):
            targets[rank] += int(batch["mask"][:, 1:].sum())
    characters = sum(len(normalise(t)) + 1 for _, t in tune_texts(dataset, "train"))
    streams = sum(1 for slot in range(4) if any(tune_texts(dataset, "train", slot, 4)))
    assert targets[0] and targets[1]
    # each worker's first character is only an input; every other character is a target once
    assert targets[0] + targets[1] == characters - streams


def test_vocabulary_round_trips_and_counts_foreign_characters():
    vocabulary = Vocabulary()
    text = "X:1\r\nT:Caf\u00e9\tdu port\nK:G\n"
    assert vocabulary.decode(vocabulary.encode(text)) == "X:1\nT:Caf du port\nK:G\n"
    assert vocabulary.unknown(text) == 1
    with pytest.raises(ValueError, match="unknown mark"):
        Vocabulary("ab")


def test_text_stream_refuses_a_split_without_shards(folk_dataset):
    with pytest.raises(DatasetError, match="split 'test' has no shards"):
        TextStream(Dataset.open(folk_dataset), "test")


def tiny_char_rnn() -> torch.nn.Module:
    family = zoo.get("char-rnn")
    torch.manual_seed(0)
    return family.build(family.make_config("tiny")).eval()


def test_samples_are_abc_text_from_the_primer_and_reproducible():
    model = tiny_char_rnn()
    options = SamplingOptions(steps=40, num=3, seed=4, temperature=1.2)
    texts = generate_text(model, options)
    assert len(texts) == 3 and len(set(texts)) == 3
    assert all(t.startswith(DEFAULT_PRIMER) and len(t) <= len(DEFAULT_PRIMER) + 41 for t in texts)
    assert all("\x00" not in t and t.endswith("\n") for t in texts)
    assert generate_text(model, options) == texts
    top = generate_text(model, SamplingOptions(steps=40, num=2, seed=4, top_p=1e-6))
    assert top[0] == top[1]  # top-p this small keeps only the most likely character


def test_a_sampled_tune_parses_to_music(abc_file):
    """A whole real tune as primer: the sample is that tune plus what follows, and it parses."""
    tune = read_file(abc_file, Grid()).pieces[0].abc
    texts = generate_text(tiny_char_rnn(), SamplingOptions(steps=1, num=1), primer=tune)
    assert texts[0].startswith(tune.rstrip())
    pieces = read_bytes(texts[0].encode(), "x.abc", Grid()).pieces
    assert len(pieces) == 1 and pieces[0].notes[..., 0].any()
