"""Meter check on O'Neill's 1850 (music21's corpus): our bar lines against music21's measures.

For every tune music21 parses, its measures (repeats expanded as abc2midi expands them) are
laid on our step grid: a tune passes the downbeat check when every full measure music21 starts
falls on one of our bar lines (its downbeat is at position 0 of our bar), and the bar-count
check when our count of bars equals the bars music21's measures span after the first pickup
(a short bar before a repeat and the pickup after it make one bar, as a musician counts them;
music21 lists them as two measures). Run: `python benchmarks/meter_oneills.py [--limit N]`; writes a table to stdout.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections import Counter, defaultdict

import numpy as np

from mg.data.corpus import music21_corpus_dir
from mg.representation import read_file
from mg.representation.grid import Grid


def music21_measures(score) -> tuple[list[float], int, bool] | None:
    """(start offsets in quarters of the full measures, bars spanned, expanded?), first part."""
    part = score.parts[0] if score.parts else score
    try:
        part, expanded = part.expandRepeats(), True
    except Exception:  # malformed repeats: music21 refuses to expand
        expanded = False
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return None
    first = measures[0]
    signature = first.timeSignature or first.getContextByClass("TimeSignature")
    bar = signature.barDuration.quarterLength if signature else 4.0
    pickup = first.duration.quarterLength if 0 < first.duration.quarterLength < bar else 0.0
    full = [float(m.offset) for m in measures if m.duration.quarterLength == bar]
    end = max(float(m.offset + m.duration.quarterLength) for m in measures)
    return full, math.ceil((end - pickup) / bar - 1e-9), expanded


def check_file(path, grid: Grid, results: dict) -> None:
    import music21

    ours = {p.tune: p for p in read_file(path, grid).pieces}
    opus = music21.converter.parse(path)
    scores = list(opus.scores) if hasattr(opus, "scores") else [opus]
    for index, score in enumerate(scores):
        piece = ours.get(index)
        measures = music21_measures(score) if piece is not None else None
        if measures is None:
            results["unmatched"].append((path.name, index))
            continue
        starts, bars, expanded = measures
        eps = grid.steps_per_beat
        lines = set(piece.meter.bar_lines(len(piece.notes) + 1, eps).tolist())
        steps = [round(o * eps) + piece.lead for o in starts]
        steps = [s for s in steps if s < len(piece.notes)]
        on_lines = all(s in lines for s in steps)
        meter = str(piece.meter.first)
        same_count = piece.bars(eps) == bars
        results["tunes"].append((meter, on_lines, same_count, expanded, path.name, index))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="files to check (0: all)")
    parser.add_argument("--every", type=int, default=1, help="every Nth file (a sample)")
    parser.add_argument("--meter", default="score", help="score or fixed (the old grid)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    grid = Grid(meter=args.meter)
    files = sorted((music21_corpus_dir() / "oneills1850").glob("*.abc"))
    files = files[:: args.every][: args.limit or None]
    results: dict = defaultdict(list)
    for path in files:
        check_file(path, grid, results)
        print(f"{path.name}: {len(results['tunes'])} tunes so far", file=sys.stderr)
    report(results, args.meter)


def report(results: dict, mode: str) -> None:
    tunes = results["tunes"]
    by_meter: dict[str, Counter] = defaultdict(Counter)
    for meter, on_lines, same_count, _, _, _ in tunes:
        by_meter[meter]["tunes"] += 1
        by_meter[meter]["downbeats"] += on_lines
        by_meter[meter]["bars"] += same_count
    print(f"meter mode: {mode}; {len(tunes)} tunes compared, {len(results['unmatched'])} unmatched")
    print("| meter | tunes | downbeats on our bar lines | bar count = music21's |")
    print("| --- | ---: | ---: | ---: |")
    for meter, c in sorted(by_meter.items(), key=lambda kv: -kv[1]["tunes"]):
        print(
            f"| {meter} | {c['tunes']} | {c['downbeats']} ({100 * c['downbeats'] / c['tunes']:.1f}%)"
            f" | {c['bars']} ({100 * c['bars'] / c['tunes']:.1f}%) |"
        )
    total = np.array([[t[1], t[2]] for t in tunes], dtype=float).mean(axis=0) * 100
    print(f"| all | {len(tunes)} | {total[0]:.1f}% | {total[1]:.1f}% |")
    misses = [t for t in tunes if not (t[1] and t[2])][:15]
    for meter, on_lines, same, expanded, name, index in misses:
        print(f"miss: {name} tune {index} {meter} downbeats={on_lines} bars={same} exp={expanded}")


if __name__ == "__main__":
    main()
