"""char-rnn: the character-level ABC model (embedding → stacked LSTM → softmax over characters).

The `base` preset is the classic folk-rnn shape: embedding 512, three LSTM layers of 256,
dropout 0.2. It reads `TextBatch` (character ids); output[:, t] is the logits of character
t+1, and the loss is its cross-entropy in nats per character. The vocabulary (id → character)
lives on the model and is saved in config.json beside the config (`checkpoint_extra`), so a
loaded model decodes what it samples with the characters it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from mg.data.vocabulary import Vocabulary
from mg.models.layers import make_rnn, zero_state
from mg.models.protocol import TextBatch


@dataclass
class CharRnnConfig:
    backbone: str = "lstm"
    embedding: int = 512
    hidden: int = 256
    layers: int = 3
    dropout: float = 0.2
    vocab_size: int = Vocabulary().size


PRESETS = {
    "tiny": {"embedding": 16, "hidden": 32, "layers": 1, "dropout": 0.0},
    "small": {"embedding": 128, "hidden": 128, "layers": 2, "dropout": 0.1},
    "base": {"embedding": 512, "hidden": 256, "layers": 3, "dropout": 0.2},
}


class CharRnn(nn.Module):
    """Embedding, a stacked RNN and a softmax head over the vocabulary."""

    def __init__(self, config: CharRnnConfig, vocabulary: Vocabulary | None = None) -> None:
        super().__init__()
        self.config = config
        self.vocabulary = self._checked(vocabulary or Vocabulary())
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embedding)
        self.rnn = make_rnn(c.backbone, c.embedding, c.hidden, c.layers, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    def forward(self, batch: TextBatch) -> torch.Tensor:
        """Logits [B, T, vocab]: output[:, t] predicts tokens[:, t+1]."""
        logits, _ = self._run(batch.tokens, None)
        return logits

    def loss(self, batch: TextBatch, output: torch.Tensor):
        """Cross-entropy of the next character, nats per character (masked by `batch.mask`)."""
        per_char = F.cross_entropy(
            output[:, :-1].flatten(0, 1), batch.tokens[:, 1:].flatten(), reduction="none"
        )
        weight = torch.ones_like(per_char) if batch.mask is None else batch.mask[:, 1:].flatten()
        weight = weight.to(per_char.dtype)
        nll = (per_char * weight).sum() / weight.sum().clamp_min(1.0)
        return nll, {"nll_char": nll}

    def initial_state(self, batch_size: int):
        return zero_state(self.rnn, batch_size)

    def step(self, state, frame: TextBatch):
        """One character per sequence (T = 1) in, the logits of the next out."""
        return self._run(frame.tokens, state)

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary.chars}

    def load_extra(self, info: dict[str, Any]) -> None:
        if "vocabulary" in info:
            self.vocabulary = self._checked(Vocabulary(info["vocabulary"]))

    def _run(self, tokens: torch.Tensor, state):
        hidden, state = self.rnn(self.dropout(self.embed(tokens)), state)
        return self.head(self.dropout(hidden)), state

    def _checked(self, vocabulary: Vocabulary) -> Vocabulary:
        if vocabulary.size != self.config.vocab_size:
            raise ValueError(
                f"vocabulary of {vocabulary.size} characters, config vocab_size {self.config.vocab_size}"
            )
        return vocabulary


def build(config: CharRnnConfig) -> CharRnn:
    return CharRnn(config)
