"""Run every benchmark (or those named) and gather their tables into benchmarks/RESULTS.md.

Each `benchmarks/bench_<name>.py` exposes `main() -> str`: it measures a baseline and our code
side by side in the same run, returns a Markdown section (a table of figures and ratios against
that baseline), and `save_section` puts it first in `benchmarks/results/<name>.md`, above the
runs before it and any notes written there, so one benchmark can be re-run alone without
losing the others' figures or its own history. RESULTS.md is those files, concatenated.

    python -m benchmarks.run               # all
    python -m benchmarks.run encode ingest # some
"""

from __future__ import annotations

import importlib
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"


class MissingData(RuntimeError):
    """A benchmark's data is not on this machine: it is skipped, its saved figures kept."""


def shared_data(*parts: str) -> Path:
    """A folder of the shared data, found as the tests find it ($MG_SHARED_DATA, else
    ../shared/data beside the checkout); MissingData saying so when it is absent."""
    from mg.data.corpus import SHARED_DATA_ENV, shared_data_dir

    folder = shared_data_dir(HERE.parent).joinpath(*parts)
    if not folder.is_dir():
        raise MissingData(
            f"needs the shared data: no {folder} (set {SHARED_DATA_ENV} to a folder holding "
            "nottingham/ and polyphonic/)"
        )
    return folder


def save_section(name: str, markdown: str) -> str:
    """Keep one benchmark's section in `results/<name>.md`; returns it for printing.

    The new run's section goes first; what the file held follows it, its title made a
    sub-heading: the run this one replaces, and after it the earlier runs and whatever was
    written there by hand. A re-run adds, it never drops.
    """
    RESULTS.mkdir(exist_ok=True)
    stamp = f"_{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}_\n\n"
    text = markdown.rstrip() + "\n\n" + stamp
    path = RESULTS / f"{name}.md"
    if path.exists():
        title, _, rest = path.read_text().partition("\n")
        text += f"### Earlier: {title.lstrip('#').strip()}\n{rest.rstrip()}\n\n"
    path.write_text(text)
    return markdown.rstrip() + "\n\n" + stamp


def gather() -> Path:
    """Concatenate every saved section into RESULTS.md: it holds nothing else (notes on a
    benchmark's figures belong in its `results/` file, which `save_section` keeps)."""
    sections = [p.read_text() for p in sorted(RESULTS.glob("*.md"))]
    out = HERE / "RESULTS.md"
    out.write_text(
        "# Benchmark results\n\nWritten by `make bench` (`python -m benchmarks.run`).\n\n"
        + "\n".join(sections)
    )
    return out


def main(names: list[str]) -> None:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    missing = importlib.import_module("benchmarks.run").MissingData  # not __main__'s copy
    for name in names or available:
        if name not in available:
            sys.exit(f"unknown benchmark {name!r}; have: {', '.join(available)}")
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        try:
            print(module.main(), flush=True)
        except missing as exc:
            print(f"skipped {name}: {exc}", flush=True)
    print(f"wrote {gather()}")


if __name__ == "__main__":
    main(sys.argv[1:])
