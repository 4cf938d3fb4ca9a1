"""Meter check on O'Neill's 1850 (music21's corpus): our bar lines against music21's measures.

The reference is music21's reading of each tune: its measures (their lengths and time
signatures), repeat signs, double bars and first/second endings, with the repeats expanded as
abc2midi plays them (`mg.representation.abc_bars`: `:|` back to `|:`, else to the last double
bar after an earlier repeat, else to the start; `[1` skipped the second time), not by music21's
`expandRepeats`, which repeats from the tune's start where abc2midi (and a musician) repeats
from the double bar (a jig's AABB becomes A A AB AB, 48 bars for 32), and for tunes with three
strains and more multiplies them (496 bars for 80). A tune passes "downbeats" when every full
measure of that expansion starts on one of our bar lines (its downbeat is at position 0 of our
bar), and "bar count" when our count of bars equals the reference's as a musician counts them:
the pickup not counted, a short bar and the short bar after it that completes it (the bar
before a repeat and the pickup played after it) one bar. `--reference expand` gives the
earlier reference (music21's `expandRepeats`, bars spanned after the pickup).
Run: `python benchmarks/meter_oneills.py [--every N] [--limit N]`; writes a table to stdout.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import warnings
from collections import Counter, defaultdict
from fractions import Fraction

from mg.data.corpus import music21_corpus_dir
from mg.representation import read_file
from mg.representation.abc import decode_text, inherited_fields, split_tunes
from mg.representation.abc_bars import WHOLE, _Bar, _expand, _Line, counted, tune_bars
from mg.representation.grid import Grid
from mg.representation.meter import TimeSignature

DOUBLE = {"double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy"}


def music21_measures(score) -> tuple[list[float], int, bool] | None:
    """(start offsets in quarters of the full measures, bars spanned, expanded?), first part:
    music21's `expandRepeats` (the earlier reference)."""
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


def played_measures(score, changes_meter: bool = True) -> tuple[list[float], int, list] | None:
    """(start offsets in quarters of the full bars, bars a musician counts, the counted bars),
    first part: music21's measures, repeats and endings, expanded as abc2midi plays them.

    Without `changes_meter` (the ABC text has no meter change), every measure is in the first
    measure's time signature: music21 gives a lone short measure a signature of its own length
    (a 3/8 measure in a 3/4 tune), and such a bar would no longer join the pickup after it."""
    part = score.parts[0] if score.parts else score
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return None
    endings = {}
    for bracket in part.spanners.getElementsByClass("RepeatBracket"):
        spanned = bracket.getSpannedElements()
        if spanned:
            endings[id(spanned[0])] = int(str(bracket.number).split(",")[0].split("-")[0] or 1)
    items: list = [_Line()]
    first = measures[0].timeSignature or measures[0].getContextByClass("TimeSignature")
    for m in measures:
        left = m.leftBarline
        if left is not None and getattr(left, "direction", None) == "start":
            items[-1].start = True
        items[-1].ending = items[-1].ending or endings.get(id(m), 0)
        signature = m.timeSignature or m.getContextByClass("TimeSignature")
        signature = signature if changes_meter else first
        sig = TimeSignature(signature.numerator, signature.denominator) if signature else None
        quarters = Fraction(m.duration.quarterLength).limit_denominator(960)
        length = round(quarters * WHOLE / 4)
        if sig is None or length <= 0:
            continue
        items.append(_Bar(length, sig))
        right = m.rightBarline
        direction = getattr(right, "direction", None)
        items.append(
            _Line(
                end=direction == "end",
                start=direction == "start",
                double=right is not None and right.type in DOUBLE,
            )
        )
    played = counted(_expand(items))
    if not played:
        return None
    full, at = [], 0
    for bar in played:
        if bar.length == bar.full:
            full.append(at * 4 / WHOLE)
        at += bar.length
    pickup = played[0].length < played[0].full
    return full, len(played) - int(pickup), played


def music21_readable(text: str) -> str:
    """The ABC text with two notations music21's reader gets wrong in their equivalent forms:
    the fermata `H` as `!fermata!` (music21 drops the note after `H`: `fee eHge/e/` becomes a
    bar of five eighths) and the annotations `">"` and `"<"` placed above, as `"^>"` (music21
    shortens the note they are on: `(EG).G ">"G2 D` becomes a bar of four eighths)."""
    lines = []
    for line in text.split("\n"):
        if not re.match(r"^[A-Za-z]:", line):
            line = re.sub(r'("[^"]*")|H', lambda m: m[1] or "!fermata!", line)
            line = line.replace('">"', '"^>"').replace('"<"', '"^<"')
        lines.append(line)
    return "\n".join(lines)


def check_file(path, grid: Grid, results: dict, reference: str = "played") -> None:
    """Compare each tune of `path`: ours (`read_file`) against music21's."""
    import music21

    ours = {p.tune: p for p in read_file(path, grid).pieces}
    header, texts = split_tunes(decode_text(path.read_bytes()))
    inherited = inherited_fields(header)
    if reference == "played":
        text = music21_readable(path.read_bytes().decode("latin-1"))
        opus = music21.converter.parseData(text, format="abc")
    else:
        opus = music21.converter.parse(path)
    scores = list(opus.scores) if hasattr(opus, "scores") else [opus]
    for index, score in enumerate(scores):
        piece = ours.get(index)
        measures = None
        if piece is not None and reference == "played":
            changes = bool(re.search(r"^M:|\[M:", piece.abc.split("\nK:", 1)[-1], re.M))
            measures = played_measures(score, changes)
        elif piece is not None:
            measures = music21_measures(score)
        if measures is None:
            results["unmatched"].append((path.name, index))
            continue
        starts, bars, theirs = measures
        # the same bars (lengths in play order) as our reading of the text: music21 and we
        # (and abc2midi, whose MIDI our reading is checked against) agree on every duration
        written = tune_bars(inherited, texts[index].text) if index < len(texts) else None
        mine = [b.length for b in counted(written)] if written else None
        agree = reference == "played" and mine == [b.length for b in theirs]
        eps = grid.steps_per_beat
        lines = set(piece.meter.bar_lines(len(piece.notes) + 1, eps).tolist())
        steps = [round(o * eps) + piece.lead for o in starts]
        steps = [s for s in steps if s < len(piece.notes)]
        on_lines = all(s in lines for s in steps)
        meter = str(piece.meter.first)
        same_count = piece.bars(eps) == bars
        results["tunes"].append(
            (meter, on_lines, same_count, agree, path.name, index, piece.bars(eps), bars)
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="files to check (0: all)")
    parser.add_argument("--every", type=int, default=1, help="every Nth file (a sample)")
    parser.add_argument("--meter", default="score", help="score or fixed (the old grid)")
    parser.add_argument(
        "--reference",
        default="played",
        choices=("played", "expand"),
        help="played: music21's measures as abc2midi plays them; expand: its expandRepeats",
    )
    parser.add_argument("--misses", type=int, default=15, help="misses to list")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    grid = Grid(meter=args.meter)
    files = sorted((music21_corpus_dir() / "oneills1850").glob("*.abc"))
    files = files[:: args.every][: args.limit or None]
    results: dict = defaultdict(list)
    for path in files:
        check_file(path, grid, results, args.reference)
        print(f"{path.name}: {len(results['tunes'])} tunes so far", file=sys.stderr)
    report(results, args.meter, args.misses)


def report(results: dict, mode: str, shown: int = 15) -> None:
    tunes = results["tunes"]
    by_meter: dict[str, Counter] = defaultdict(Counter)
    for meter, on_lines, same_count, agree, *_ in tunes:
        for key in (meter, "all"):
            c = by_meter[key]
            c["tunes"] += 1
            c["downbeats"] += on_lines
            c["bars"] += same_count
            c["agree"] += agree
            c["agree_downbeats"] += agree and on_lines
            c["agree_bars"] += agree and same_count
    print(f"meter mode: {mode}; {len(tunes)} tunes compared, {len(results['unmatched'])} unmatched")
    print(
        "| meter | tunes | downbeats on our bar lines | bar count = music21's "
        "| tunes music21 reads as we do | their downbeats | their bar count |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")

    def share(n: int, of: int) -> str:
        return f"{n} ({100 * n / of:.1f}%)" if of else "0"

    order = sorted(by_meter.items(), key=lambda kv: (kv[0] == "all", -kv[1]["tunes"]))
    for meter, c in order:
        print(
            f"| {meter} | {c['tunes']} | {share(c['downbeats'], c['tunes'])}"
            f" | {share(c['bars'], c['tunes'])} | {c['agree']}"
            f" | {share(c['agree_downbeats'], c['agree'])} | {share(c['agree_bars'], c['agree'])} |"
        )
    misses = [t for t in tunes if not (t[1] and t[2])][:shown]
    for meter, on_lines, _, agree, name, index, ours, theirs in misses:
        print(
            f"miss: {name} tune {index} {meter} downbeats={on_lines} bars {ours} vs {theirs}"
            f" same-bars={agree}"
        )


if __name__ == "__main__":
    main()
