"""The causal context matrix C_t: a fixed convolution over N_{t-ε} … N_t.

The kernel is 3 pitches × 3 columns × (ε+1) steps, applied to each column on its own: weights
1-2-1 across the neighbouring pitches times 1, 2, …, ε+1 from the oldest to the newest step.
The weights are integers and the inputs are integers (0/1 and velocities 0..127), so every sum
is exact in float32 whatever the order of summation; one division then normalises each column
to 0..1. That is what lets ingest (whole pieces) and generation (one window per step) share
this one function and agree to the last bit.
"""

from __future__ import annotations

import functools

import numpy as np

from mg.representation.grid import Grid

PITCH_WEIGHTS = np.array([1, 2, 1], dtype=np.float32)
CONTEXT_DTYPE = np.float16


def context_kernel(steps_per_beat: int) -> np.ndarray:
    """Integer kernel [3 pitch offsets (-1, 0, +1), 3 columns, ε+1 steps oldest→newest]."""
    time_weights = np.arange(1, steps_per_beat + 2, dtype=np.float32)
    per_column = PITCH_WEIGHTS[:, None] * time_weights[None, :]
    return np.repeat(per_column[:, None, :], 3, axis=1)


def context_normaliser(steps_per_beat: int) -> np.ndarray:
    """Per-column divisor: kernel sum, times 127 for the velocity column."""
    total = context_kernel(steps_per_beat)[:, 0, :].sum()
    return np.array([total, total, total * 127.0], dtype=np.float32)


def kernel_spec(grid: Grid) -> dict:
    """The kernel as recorded in the manifest and in a model's config."""
    return {
        "window": f"N[t-{grid.steps_per_beat}]..N[t] (causal)",
        "pitch_offsets": [-1, 0, 1],
        "weights": context_kernel(grid.steps_per_beat)[:, 0, :].astype(int).tolist(),
        "normaliser": context_normaliser(grid.steps_per_beat).tolist(),
        "dtype": np.dtype(CONTEXT_DTYPE).name,
    }


def context_of_windows(windows: np.ndarray) -> np.ndarray:
    """windows [..., ε+1, α, 3] (oldest→newest) -> context [..., α, 3] float16.

    This is the shared function: generation calls it on its last ε+1 frames.
    """
    steps_per_beat = windows.shape[-3] - 1
    pitched = _pitch_sums(windows, steps_per_beat)
    total = pitched[..., 0, :, :].copy()
    for k in range(1, steps_per_beat + 1):  # time weight k+1, oldest→newest
        total += (k + 1) * pitched[..., k, :, :]
    return _normalised(total, steps_per_beat, windows.dtype)


def context_matrix(
    notes: np.ndarray,
    steps_per_beat: int,
    span: tuple[int, int] | None = None,
    silent_from: int | None = None,
) -> np.ndarray:
    """notes [steps, α, 3] -> context [steps, α, 3]; steps before the start count as silence.

    The same sums as `context_of_windows` at every step, computed over the whole piece at
    once: the kernel is separable (pitch 1-2-1, then time 1..ε+1), so it is a pitch sum and
    ε+1 shifted adds of integers, instead of a float window copy per step. Unsigned or bool
    notes are summed only over the pitches they use, one pitch either side (`_band`): every
    other pitch's sums are 0, whose context is 0 (a tune uses a third of the 88 keys).
    `span` is their `pitch_span`, when the caller has it already; `silent_from`, a step from
    which on the caller knows them silent (a piece padded to its last segment): every window
    from ε steps after it on is silent, whose context is 0, and is not summed.
    """
    if notes.dtype.kind not in "ub":  # floats (a -0.0 sums to -0.0) and signed integers
        return _context_sums(notes, steps_per_beat, notes.dtype)
    low, high = _band(notes, span)
    summed = len(notes)
    if silent_from is not None:
        summed = min(summed, max(silent_from, 0) + steps_per_beat)
    if low == 0 and high == notes.shape[1] and summed == len(notes):
        return _context_sums(notes, steps_per_beat, notes.dtype)
    out = np.zeros(notes.shape, dtype=CONTEXT_DTYPE)
    if high > low and summed:
        _context_sums(notes[:summed, low:high], steps_per_beat, notes.dtype, out[:summed, low:high])
    return out


def pitch_span(notes: np.ndarray) -> tuple[int, int]:
    """[first, last + 1) of the pitches of [steps, α, 3] with a nonzero value; (0, 0) when
    all are 0."""
    used = np.flatnonzero(notes.max(axis=0).any(axis=-1)) if notes.size else ()
    if not len(used):
        return 0, 0
    return int(used[0]), int(used[-1]) + 1


def _band(notes: np.ndarray, span: tuple[int, int] | None = None) -> tuple[int, int]:
    """[low, high): the pitches of [steps, α, 3] with a nonzero value (`span`, their
    `pitch_span`), one more either side (the pitch sum reaches one pitch out); (0, 0) when
    all are 0."""
    first, end = pitch_span(notes) if span is None else span
    if end <= first:
        return 0, 0
    return max(first - 1, 0), min(end + 1, notes.shape[1])


def _context_sums(
    notes: np.ndarray, steps_per_beat: int, notes_dtype: np.dtype, out: np.ndarray | None = None
) -> np.ndarray:
    """`context_matrix` of every pitch of `notes` (0 beyond its pitch edges), into `out`."""
    pitched, pitches = _framed_pitch_sums(notes, steps_per_beat)
    total = (steps_per_beat + 1) * pitched  # the newest step
    steps = len(notes)
    weighted = np.empty_like(pitched)  # one scratch array for every lag's weighted sums
    for lag in range(1, min(steps_per_beat + 1, steps)):  # step t-lag weighs ε+1-lag
        part = weighted[: steps - lag]
        np.multiply(pitched[: steps - lag], steps_per_beat + 1 - lag, out=part)
        total[lag:] += part
    return _normalised(total[:, pitches], steps_per_beat, notes_dtype, out)


def _pitch_sums(values: np.ndarray, steps_per_beat: int) -> np.ndarray:
    """[..., α, 3] -> p-1 + 2·p + p+1 along α (0 beyond the edges), exactly.

    Integer inputs (uint8 notes) sum as integers: int16 while twice the largest possible
    kernel sum fits (`_normalised` looks the velocity column's sums up past the others'), else
    int32. Other inputs sum as float32, whose sums of integers below 2**24 are exact in any
    order, so integer-valued frames give the same context either way.
    """
    sums, pitches = _framed_pitch_sums(values, steps_per_beat)
    return sums[..., pitches, :]


def _framed_pitch_sums(values: np.ndarray, steps_per_beat: int) -> tuple[np.ndarray, slice]:
    """`_pitch_sums`, and the pitches of the array that are the values': integer sums come
    with a pitch beyond either edge (whose sums are not kept), so that each neighbour is one
    add over the flat array (a pitch's neighbours are a row of columns away, and a frame's
    last pitch and the next one's first meet only silence): 2-3x faster than frame by
    frame. Float sums add in place, as they come (a -0.0 must stay one)."""
    if np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
        top = 255 * _kernel_sum(steps_per_beat)  # uint8 at every weight
        dtype = np.int16 if 2 * top + 1 <= np.iinfo(np.int16).max else np.int32
    else:
        cast = values.astype(np.float32)
        out = cast + cast
        out[..., 1:, :] += cast[..., :-1, :]
        out[..., :-1, :] += cast[..., 1:, :]
        return out, slice(None)
    alpha, width = values.shape[-2:]
    cast = np.zeros(values.shape[:-2] + (alpha + 2, width), dtype)
    cast[..., 1:-1, :] = values
    out = cast + cast
    flat, cast_flat = out.reshape(-1), cast.reshape(-1)
    flat[width:] += cast_flat[:-width]
    flat[:-width] += cast_flat[width:]
    return out, slice(1, alpha + 1)


@functools.cache
def _kernel_sum(steps_per_beat: int) -> int:
    return int(context_normaliser(steps_per_beat)[0])


def _normalised(
    total: np.ndarray, steps_per_beat: int, notes_dtype: np.dtype, out: np.ndarray | None = None
) -> np.ndarray:
    """Exact kernel sums -> float16 context: each sum as float32 over its column's normaliser
    (written into `out` when given). Integer sums are the caller's scratch: they are changed.

    Integer sums go through a table of those quotients (float16 conversion is slow in numpy):
    the pressed and articulated columns share a normaliser, so one table holds their
    quotients and then the velocity column's, whose sums are moved past the others' first,
    and one look-up over the contiguous sums does all three columns. The sums of uint8 or bool
    notes (0 to 255 times the kernel's sum) go through one table built once per ε, with no
    pass over the sums to bound them. Every sum is within its table, so the look-up skips
    numpy's bounds check (`mode="clip"`, which never clips here).
    """
    if total.dtype.kind == "f":
        found = (total / context_normaliser(steps_per_beat)).astype(CONTEXT_DTYPE)
        if out is None:
            return found
        out[...] = found
        return out
    if notes_dtype in (np.uint8, np.bool_):  # the table covers every sum they can give
        table, offset = _quotients(steps_per_beat)
    else:
        if total.size and int(total.min()) < 0:
            raise ValueError("notes must not be negative")
        offset = int(total.max()) + 1 if total.size else 1
        table = _joined_table(_quotient_table(offset, steps_per_beat))
        if 2 * offset > np.iinfo(total.dtype).max:  # no room for the velocity column's move
            total = total.astype(np.int64)
    if out is None:
        out = np.empty(total.shape, dtype=CONTEXT_DTYPE)
    total[..., 2] += offset
    np.take(table, total, out=out, mode="clip")
    return out


def _quotient_table(top: int, steps_per_beat: int) -> np.ndarray:
    """[top, 3] float16: n / the column's normaliser, for n = 0 … top-1 (as float32 first)."""
    normaliser = context_normaliser(steps_per_beat)
    return (np.arange(top, dtype=np.float32)[:, None] / normaliser).astype(CONTEXT_DTYPE)


def _joined_table(table: np.ndarray) -> np.ndarray:
    """[top, 3] quotients -> [2·top]: the pressed and articulated columns' (the same: one
    normaliser), then the velocity column's."""
    assert np.array_equal(table[:, 0].view(np.uint16), table[:, 1].view(np.uint16))
    return np.concatenate([table[:, 0], table[:, 2]])


@functools.cache
def _quotients(steps_per_beat: int) -> tuple[np.ndarray, int]:
    """The joined table for every sum uint8 notes can give, and where the velocity column's
    quotients start in it (read-only: it is shared)."""
    top = 255 * _kernel_sum(steps_per_beat) + 1
    table = _joined_table(_quotient_table(top, steps_per_beat))
    table.flags.writeable = False
    return table, top


def transposed_context(
    context: np.ndarray,
    shifted: np.ndarray,
    shift: int,
    steps_per_beat: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """`context_matrix(shifted, ε)`, given `context = context_matrix(notes, ε)` and
    `shifted = shift_pitches(notes, shift)`: the kernel is the same at every pitch, so the
    context moves with the notes, except within |shift|+1 pitches of either edge (notes that
    fell out of the range, the silence that came in), which `context_matrix` computes again
    from the shifted notes there. Bit for bit the same; a transposition costs a copy (into
    `out`, of the context's shape, when given). Where `context_moves` says so, moving it is
    all there is to do."""
    from mg.representation.transpose import shift_pitches

    alpha = shifted.shape[1]
    band = min(abs(shift) + 1, alpha)
    if 2 * band + 2 >= alpha:  # the edges meet: all of it again
        found = context_matrix(shifted, steps_per_beat)
        if out is None:
            return found
        out[...] = found
        return out
    out = shift_pitches(context, shift, out)
    # both edges in one call: each band with its inner neighbour, a silent pitch between them
    # (silence on the far side of a band's neighbour, as beyond the range: it is not kept)
    low = shifted[:, : band + 1]
    high = shifted[:, alpha - band - 1 :]
    gap = np.zeros((len(shifted), 1) + shifted.shape[2:], shifted.dtype)
    edges = context_matrix(np.concatenate([low, gap, high], axis=1), steps_per_beat)
    out[:, :band] = edges[:, :band]
    out[:, alpha - band :] = edges[:, -band:]
    return out


def context_moves(span: tuple[int, int], shift: int, alpha: int) -> bool:
    """Whether the context of unsigned or bool notes whose `pitch_span` is `span`, shifted
    `shift` pitches, is their context moved with them (`shift_pitches`), with no edge to
    compute again (`transposed_context`): true when no note is within one pitch of either
    edge of the α pitches, before the shift or after it; then none fell out, and every
    pitch's sums are those of the pitch it came from (silence for the pitches that came in,
    whose neighbours are silent too)."""
    first, end = span
    return end <= first or (min(first, first + shift) >= 1 and max(end, end + shift) <= alpha - 1)
