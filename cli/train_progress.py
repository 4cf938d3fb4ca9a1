"""What `mg train` shows while it runs: a line per epoch on stderr and, on a terminal, one bar
for the whole run whose fraction and ETA respect `--epochs`, `--max-steps` and `--time-budget`
(whichever ends the run first; early stopping cannot be foreseen)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

import typer

BAR_WIDTH = 24
REDRAW_S = 0.2


def metric_text(name: str, value: float) -> str:
    """`train/frames_per_s 10,060` and `valid/nll_frame 3.6110`: plain numbers, never 1.006e+04."""
    return f"{name} {value:,.0f}" if name.endswith("_per_s") else f"{name} {value:.4f}"


def clock_text(seconds: float) -> str:
    """Seconds as H:MM:SS or M:SS."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RunProgress:
    """The `Progress` of `mg train` (see mg.training.loop): epoch lines, and a bar when `bar`."""

    def __init__(
        self, bar: bool, stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.show_bar, self.stream, self.clock = bar, stream, clock
        self.planned, self.step, self.budget = 0, 0, 0.0
        self.run_t0 = self.launch_t0 = clock()
        self.launch_step = 0
        self.last_draw = -math.inf
        self.status = ""
        self.drawn = 0  # characters of the bar line on screen

    def run_start(self, planned_steps: int, step: int, budget_s: float, elapsed_s: float) -> None:
        now = self.clock()
        self.planned, self.step, self.budget = planned_steps, step, budget_s
        self.run_t0, self.launch_t0, self.launch_step = now - elapsed_s, now, step

    def epoch_start(self, epoch: int, batches: int) -> None:
        self.epoch = epoch

    def batch_end(self, loss: float, frames_per_s: float) -> None:
        self.step += 1
        self.status = f"loss {loss:.3f}, {frames_per_s:,.0f} frames/s"
        now = self.clock()
        if self.show_bar and now - self.last_draw >= REDRAW_S:
            self.last_draw = now
            self._draw(self.line())

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        shown = ", ".join(metric_text(k, v) for k, v in metrics.items())
        self.note(f"epoch {epoch}: {shown}")

    def note(self, line: str) -> None:
        """A line of what the run does now (validating, sampling), below the bar's last state."""
        self._draw("")
        typer.echo(line, err=True)

    def fraction(self) -> float:
        """How far the run is: steps of the planned steps, or time of the budget if further."""
        done = self.step / self.planned if self.planned else 0.0
        if self.budget:
            done = max(done, (self.clock() - self.run_t0) / self.budget)
        return min(1.0, done)

    def eta(self) -> float:
        """Seconds left at this launch's pace, capped by the time budget left (inf: unknown)."""
        now = self.clock()
        steps, seconds = self.step - self.launch_step, now - self.launch_t0
        left = (self.planned - self.step) * seconds / steps if steps and seconds > 0 else math.inf
        if self.budget:
            left = min(left, self.budget - (now - self.run_t0))
        return max(0.0, left)

    def line(self) -> str:
        filled = round(self.fraction() * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        eta = self.eta()
        eta_text = clock_text(eta) if math.isfinite(eta) else "?"
        return (
            f"epoch {self.epoch} step {self.step:,} [{bar}] {self.fraction():4.0%} "
            f"ETA {eta_text}  {self.status}"
        )

    def _draw(self, text: str) -> None:
        if not self.show_bar:
            return
        self.stream.write("\r" + text.ljust(self.drawn) + ("\r" if not text else ""))
        self.stream.flush()
        self.drawn = len(text)
