"""The representation: MIDI/ABC ⇄ note matrices, meter and bar lines, the causal context and
the position matrices.

numpy only (no torch): Beam workers import this and nothing heavier.
"""

from mg.representation.context import (
    CONTEXT_DTYPE,
    context_kernel,
    context_matrix,
    context_of_windows,
    kernel_spec,
)
from mg.representation.decode import note_spans, notes_to_midi_bytes, write_midi
from mg.representation.encode import (
    ARTICULATED,
    PRESSED,
    VELOCITY,
    EncodeStats,
    encode_events,
)
from mg.representation.meter import Meter, TimeSignature, grid_meter
from mg.representation.position import (
    position_codes,
    position_index,
    position_matrix,
    position_width,
)
from mg.representation.read import (
    SUFFIXES,
    FileResult,
    Piece,
    detect_format,
    read_bytes,
    read_file,
)
from mg.representation.segment import Segments, segment_notes

__all__ = [
    "ARTICULATED",
    "CONTEXT_DTYPE",
    "PRESSED",
    "SUFFIXES",
    "VELOCITY",
    "EncodeStats",
    "FileResult",
    "Meter",
    "Piece",
    "Segments",
    "TimeSignature",
    "context_kernel",
    "context_matrix",
    "context_of_windows",
    "detect_format",
    "encode_events",
    "grid_meter",
    "kernel_spec",
    "note_spans",
    "notes_to_midi_bytes",
    "position_codes",
    "position_index",
    "position_matrix",
    "position_width",
    "read_bytes",
    "read_file",
    "segment_notes",
    "write_midi",
]
