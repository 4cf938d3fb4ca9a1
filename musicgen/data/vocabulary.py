"""The characters of the text family (char-rnn): id 0 is every character outside the vocabulary.

Apart from mg.data.text (the Parquet side, pyarrow) so that a model, and `mg generate` with it,
needs only numpy to encode and decode its characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNKNOWN = "\x00"  # id 0: any character outside the vocabulary (counted, never sampled)
ASCII_VOCABULARY = UNKNOWN + "\n" + "".join(chr(code) for code in range(32, 127))


@dataclass(frozen=True)
class Vocabulary:
    """Characters by id; id 0 stands for every character outside the vocabulary."""

    chars: str = ASCII_VOCABULARY

    def __post_init__(self) -> None:
        if not self.chars.startswith(UNKNOWN) or len(set(self.chars)) != len(self.chars):
            raise ValueError("a vocabulary starts with the unknown mark and repeats no character")

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Text -> int64 ids; CR/LF become LF and tabs spaces first."""
        index = {ch: i for i, ch in enumerate(self.chars)}
        return np.fromiter((index.get(ch, 0) for ch in normalise(text)), dtype=np.int64)

    def decode(self, ids) -> str:
        """Ids -> text; the unknown mark is left out."""
        return "".join(self.chars[i] for i in np.asarray(ids).ravel().tolist() if i > 0)

    def unknown(self, text: str) -> int:
        """How many characters of `text` fall outside the vocabulary."""
        known = set(self.chars[1:])
        return sum(ch not in known for ch in normalise(text))


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
