"""What one ingest run is asked to do (`IngestConfig`), and the Beam options that run it.

The CLI parses its options into an `IngestConfig`; `pipeline_options` turns the runner choice
into Beam `PipelineOptions`. The local default is Beam's FnApiRunner in multi-processing mode
with `workers` processes: Beam's own `DirectRunner` name first tries the PrismRunner, which
downloads a binary at run time, so `DirectRunner` is mapped to the FnApiRunner here.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import asdict, dataclass, field

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from mg.errors import MgError
from mg.representation.files import MAX_FILE_BYTES
from mg.representation.grid import Grid

LOCAL_RUNNERS = ("DirectRunner", "FnApiRunner")
# Beam's DaskRunner cannot run this pipeline; `--runner DaskRunner` means ours (dask_runner.py)
DASK_RUNNERS = ("DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner")
# bounds on what an option may ask for, checked before anything of that size exists
MAX_WORKERS = 256
MAX_SHARDS = 10_000
MAX_TRANSPOSE = 12  # semitones: an octave either way already covers every key twice
MAX_FILE_MB = 1024
MAX_STEPS_PER_BEAT = 48
MAX_BEATS_PER_BAR = 32
DEFAULT_PARSER = "mg.representation:read_bytes"


class IngestError(MgError):
    """An ingest run that cannot start or cannot produce a dataset."""


@dataclass(frozen=True)
class IngestConfig:
    """Every choice of one run; `options_record` is what the manifest keeps of it."""

    inputs: tuple[str, ...]
    out: str
    grid: Grid = field(default_factory=Grid)
    transpose: tuple[int, int] = (-3, 3)
    transpose_all: bool = False
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    shards: int | None = None
    overwrite: bool = False
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    runner: str = "DirectRunner"
    beam_args: tuple[str, ...] = ()
    progress: bool = False
    # the parse that runs in the crash guard, as "module:function" (data, source, grid) -> FileResult
    parser: str = DEFAULT_PARSER
    parse_timeout_s: float = 300.0
    max_file_bytes: int = MAX_FILE_BYTES  # larger files are rejected before they are read

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("no INPUT given: name files, folders or globs to ingest")
        _check_range("--workers", self.workers, 1, MAX_WORKERS)
        if self.shards is not None:
            _check_range("--shards", self.shards, 1, MAX_SHARDS)
        low, high = self.transpose
        if low > high:
            raise ValueError(f"--transpose needs LOW <= HIGH, got {low}:{high}")
        for shift in (low, high):
            _check_range("--transpose", shift, -MAX_TRANSPOSE, MAX_TRANSPOSE)
        _check_range("--max-file-size", self.max_file_bytes >> 20, 1, MAX_FILE_MB)
        check_grid_size(self.grid)
        if any(r < 0 for r in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            raise ValueError(f"--split ratios must be >= 0 and sum to 1, got {self.split}")

    @property
    def shifts(self) -> tuple[int, ...]:
        """Transpositions in semitones, ascending (0 included when the range covers it)."""
        return tuple(range(self.transpose[0], self.transpose[1] + 1))

    @property
    def local(self) -> bool:
        return self.runner in LOCAL_RUNNERS

    def options_record(self) -> dict:
        record = asdict(self)
        for key in ("grid", "progress", "parser", "parse_timeout_s", "out", "overwrite"):
            record.pop(key)
        return record


def _check_range(option: str, value: int, low: int, high: int) -> None:
    if value < low:
        raise ValueError(f"{option} must be at least {low}, got {value}")
    if value > high:
        raise ValueError(f"{option} must be at most {high}, got {value}")


def check_grid_size(grid: Grid) -> None:
    """Bounds on the grid options: a segment is allocated whole for every piece, however short
    (`--bars 100000` on a 1.5 KB MIDI file asked for gigabytes), and the MIDI resolution is
    120·ε ticks per beat, which MIDI stores in 15 bits."""
    _check_range("--steps-per-beat", grid.steps_per_beat, 1, MAX_STEPS_PER_BEAT)
    _check_range("--beats-per-bar", grid.beats_per_bar, 1, MAX_BEATS_PER_BAR)
    if grid.segment_steps > grid.max_steps:
        raise ValueError(
            f"a segment of --bars {grid.bars} × --beats-per-bar {grid.beats_per_bar} × "
            f"--steps-per-beat {grid.steps_per_beat} = {grid.segment_steps:,} steps is longer "
            f"than the longest piece kept ({grid.max_steps:,} steps)"
        )


def parse_transpose(text: str) -> tuple[int, int]:
    """'-3:3' -> (-3, 3); a single number 'n' means n:n."""
    low, sep, high = text.partition(":")
    try:
        return (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise ValueError(f"--transpose must look like LOW:HIGH (e.g. -3:3), got {text!r}") from None


def parse_split(text: str) -> tuple[float, float, float]:
    """'0.8/0.1/0.1' -> (0.8, 0.1, 0.1): train, valid, test."""
    parts = text.split("/")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ValueError(
            f"--split must look like TRAIN/VALID/TEST (e.g. 0.8/0.1/0.1), got {text!r}"
        )
    return values  # type: ignore[return-value]


def pipeline_options(config: IngestConfig) -> PipelineOptions:
    """Beam options for the run: the local FnApiRunner, or the named runner with its own args."""
    args = list(config.beam_args)
    check_beam_args(args)
    if config.local:  # the processes themselves come from `local_runner`
        base = ["--runner=FnApiRunner", f"--direct_num_workers={config.workers}"]
    elif config.runner in DASK_RUNNERS:
        from mg.pipelines.dask_runner import RUNNER

        base = [f"--runner={RUNNER}"]
    else:
        base = [f"--runner={config.runner}"]
    options = PipelineOptions(base + args)
    if options.view_as(StandardOptions).streaming:
        raise ValueError("mg ingest is a batch pipeline: --streaming is not supported")
    return options


MALLOC_ARENAS = 2  # glibc malloc arenas of a local run's processes


def _few_malloc_arenas() -> None:
    """At most `MALLOC_ARENAS` glibc malloc arenas in this process (the workers get it as
    MALLOC_ARENA_MAX): the runner's and the harness's threads each took an arena of their
    own, and what each kept added up (20,000 files: the tree's peak 1,125 -> 1,009 MB).
    A no-op where the C library is not glibc."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-8, MALLOC_ARENAS)  # -8: M_ARENA_MAX


def local_runner(config: IngestConfig):
    """The FnApiRunner: in this process for one worker, else `workers` quiet subprocesses.

    Beam's own multi-processing mode starts `sdk_worker_main`, whose INFO logging cannot be
    turned off from here; `mg.pipelines.beam_worker` is the same harness, quiet.
    """
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    _few_malloc_arenas()
    if config.workers == 1:
        return FnApiRunner()
    # Beam runs the command through a shell: the variable tells the worker whom to outlive not
    command = (
        f"MG_INGEST_DRIVER_PID={os.getpid()} MALLOC_ARENA_MAX={MALLOC_ARENAS} "
        f"{sys.executable} -m mg.pipelines.beam_worker"
    )
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command))


def check_beam_args(args: list[str]) -> None:
    """Refuse what no Beam options class knows: a typo would otherwise be dropped silently."""
    unknown = unknown_beam_args(args)
    if unknown:
        raise ValueError(
            f"unknown option(s) {' '.join(unknown)} (mg ingest options go before `--`, "
            "Beam pipeline options after it)"
        )


def unknown_beam_args(args: list[str]) -> list[str]:
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    if any(arg.startswith("--dask") for arg in args):  # registers DaskOptions (dask is slow
        import mg.pipelines.dask_runner  # noqa: F401  # to import: only when asked for)

    parser = _BeamArgumentParser(allow_abbrev=False)
    seen = {}
    for cls in _all_subclasses(PipelineOptions):
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(args)
    return unknown


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found
