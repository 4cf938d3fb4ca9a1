"""Tiny models learn on a real ingested corpus (folk tunes) within a few hundred steps."""

from __future__ import annotations

import math
from collections import Counter
from itertools import cycle, islice

import pytest
import torch
from torch.utils.data import DataLoader

from mg import zoo
from mg.data.notes import Dataset, SegmentStream, to_batch
from mg.data.text import TUNE_SEPARATOR, TextStream, to_text_batch, tune_texts
from mg.models.protocol import NoteBatch

CROP = 32  # steps per training crop: short sequences keep the test in seconds


def crops(dataset: Dataset, generator: torch.Generator):
    """Endless shuffled batches of 8 random CROP-step windows of the train split."""
    loader = DataLoader(SegmentStream(dataset, "train", shuffle_buffer=32), batch_size=8)
    for collated in cycle(loader):
        batch = to_batch(collated)
        start = int(torch.randint(0, batch.notes.shape[1] - CROP + 1, (1,), generator=generator))
        window = slice(start, start + CROP)
        yield NoteBatch(batch.notes[:, window], batch.context[:, window], batch.position[:, window])


def evaluate(model, batch) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        loss, parts = model.loss(batch, model(batch))
    model.train()
    return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}


def train(model, batches, steps: int) -> None:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for batch in islice(batches, steps):
        loss, _ = model.loss(batch, model(batch))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


@pytest.mark.parametrize(("name", "steps"), [("three-branch", 120), ("pianoroll-rnn", 200)])
def test_tiny_note_model_loss_drops_on_folk_tunes(folk_dataset, name, steps):
    torch.manual_seed(0)
    dataset = Dataset.open(folk_dataset)
    family = zoo.get(name)
    model = family.build(family.make_config("tiny", dataset.grid))
    dataset.check_config(model.config)
    valid = to_batch(next(iter(DataLoader(SegmentStream(dataset, "valid"), batch_size=16))))
    before = evaluate(model, valid)
    train(model, crops(dataset, torch.Generator().manual_seed(0)), steps)
    after = evaluate(model, valid)
    assert after["loss"] < 0.25 * before["loss"]
    assert after["nll_pressed"] < 0.25 * before["nll_pressed"]


def test_tiny_char_rnn_beats_the_character_frequencies(folk_dataset):
    """After 100 steps the model knows more than how often each character occurs."""
    torch.manual_seed(0)
    dataset = Dataset.open(folk_dataset)
    counts = Counter("".join(text + TUNE_SEPARATOR for _, text in tune_texts(dataset, "train")))
    total = sum(counts.values())
    unigram = -sum(n / total * math.log(n / total) for n in counts.values())
    family = zoo.get("char-rnn")
    model = family.build(family.make_config("tiny"))
    valid_loader = DataLoader(TextStream(dataset, "valid", length=128), batch_size=64)
    valid = to_text_batch(next(iter(valid_loader)))
    train_loader = DataLoader(
        TextStream(dataset, "train", length=64, shuffle_buffer=32), batch_size=16
    )
    train(model, (to_text_batch(c) for c in cycle(train_loader)), steps=100)
    assert evaluate(model, valid)["nll_char"] < unigram
