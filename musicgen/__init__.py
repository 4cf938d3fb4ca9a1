"""musicgen: the library behind `mg` — representation, datasets, models' protocol, training, sampling."""

from musicgen.errors import CorpusError, Reason
from musicgen.grid import Grid

__all__ = ["CorpusError", "Grid", "Reason"]
