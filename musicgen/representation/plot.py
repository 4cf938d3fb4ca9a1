"""Piano-roll pictures of note matrices: `mg inspect --png`, training samples, `mg generate --png`.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend switch), so it
works on machines without a display and never disturbs another figure of the process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mg.representation.encode import ARTICULATED, PRESSED, VELOCITY
from mg.representation.grid import Grid
from mg.representation.meter import Meter, grid_meter
from mg.representation.position import position_codes
from mg.representation.summary import pitch_name

_MARGIN = 2  # pitches shown below the lowest and above the highest note


def pianoroll_png(
    notes: np.ndarray,
    grid: Grid,
    path: str | Path,
    title: str | None = None,
    meter: Meter | None = None,
) -> Path:
    """Draw notes [steps, α, 3] as a piano roll PNG at `path`; returns the path.

    Time runs left to right with the bar lines of `meter` (else the grid's common meter) and
    its beats fainter; the colour of a pressed cell is its velocity (darker is louder); a white cut marks each articulation, so repeated
    notes of one pitch stay apart.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    steps = max(len(notes), 1)
    low, high = _shown_pitches(notes)
    fig = Figure(
        figsize=(float(np.clip(steps / 48, 6, 24)), float(np.clip((high - low) / 8, 3, 8)))
    )
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = np.where(notes[:, low : high + 1, PRESSED] > 0, notes[:, low : high + 1, VELOCITY], 0)
    ax.imshow(
        np.ma.masked_equal(image.T.astype(float), 0),
        origin="lower",
        aspect="auto",
        cmap="Blues",
        vmin=-48,  # the quietest note stays visible
        vmax=127,
        zorder=2,
        interpolation="nearest",
        extent=(0, steps, low - 0.5, high + 0.5),
    )
    _mark_articulations(ax, notes, low, high)
    _grid_lines(ax, grid, steps, meter)
    _pitch_axis(ax, grid, low, high)
    ax.set_xlim(0, steps)
    ax.set_facecolor("white")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _shown_pitches(notes: np.ndarray) -> tuple[int, int]:
    """Pitch indices to show: the notes' range plus a margin, or everything when silent."""
    used = np.flatnonzero(notes[..., PRESSED].any(axis=0)) if len(notes) else np.array([])
    alpha = notes.shape[1]
    if len(used) == 0:
        return 0, alpha - 1
    return max(int(used[0]) - _MARGIN, 0), min(int(used[-1]) + _MARGIN, alpha - 1)


def _mark_articulations(ax, notes: np.ndarray, low: int, high: int) -> None:
    onsets = notes[:, low : high + 1, ARTICULATED] & notes[:, low : high + 1, PRESSED]
    step, pitch = np.nonzero(onsets)
    ax.vlines(step, pitch + low - 0.5, pitch + low + 0.5, colors="white", linewidth=1.0, zorder=3)


def _grid_lines(ax, grid: Grid, steps: int, meter: Meter | None) -> None:
    meter = grid_meter(meter or Meter.constant(grid.common_meter), grid)
    beats = np.flatnonzero(position_codes(meter, grid, steps + 1)[:, 0] == 0)
    bars = meter.bar_lines(steps + 1, grid.steps_per_beat)
    ax.vlines(
        beats, 0, 1, transform=ax.get_xaxis_transform(), colors="0.88", linewidth=0.5, zorder=1
    )
    ax.vlines(
        bars, 0, 1, transform=ax.get_xaxis_transform(), colors="0.55", linewidth=0.9, zorder=1
    )
    ticks = bars[:: max(1, len(bars) // 16)]
    number = {int(b): i + 1 for i, b in enumerate(bars)}
    ax.set_xticks(ticks, [str(number[int(b)]) for b in ticks])
    ax.set_xlabel("bar")


def _pitch_axis(ax, grid: Grid, low: int, high: int) -> None:
    ticks = [i for i in range(low, high + 1) if (i + grid.low) % 12 == 0]
    if len(ticks) < 2:  # a narrow range: label every third pitch instead of each C
        ticks = list(range(low, high + 1, 3))
    ax.set_yticks(ticks, [pitch_name(i + grid.low) for i in ticks])
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_ylabel("pitch")
