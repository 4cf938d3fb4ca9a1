"""`mg zoo`: the model families, their backbones and presets, with parameter counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mg.cli.common import one_line_errors
from mg.representation.grid import Grid

if TYPE_CHECKING:
    from mg.models import registry


def zoo() -> None:
    """List the model families, their backbones and presets (parameters at the default grid)."""
    from mg.models import registry  # loads torch: only when the command runs

    with one_line_errors():
        grid = Grid()
        sizes = registry.preset_sizes(grid)
        families = registry.families()
    typer.echo(_table(sizes, families))
    typer.echo(
        f"\nparameters at the default grid: {grid.alpha} pitches, {grid.position_width} rows of P_t (step in beat, beat in bar, meter)"
    )
    for family in families:
        typer.echo(f"  {family.name}: {family.summary}")
    typer.echo("\noutput heads of the note families (--head; parameters above: the default)")
    for name, summary in _heads():
        typer.echo(f"  {name}: {summary}")


def _heads() -> list[tuple[str, str]]:
    from mg.models.heads import DEFAULT_HEAD, HEADS

    return [
        (name + (" (default)" if name == DEFAULT_HEAD else ""), HEADS[name].summary)
        for name in HEADS
    ]


def _table(sizes: list[registry.PresetSize], families: list[registry.Family]) -> str:
    backbones = list(dict.fromkeys(b for f in families for b in f.backbones))
    header = ["family", "inputs", "preset", *(f"params ({b})" for b in backbones)]
    counts = {(s.family, s.preset, s.backbone): s.parameters for s in sizes}
    rows = [
        [f.name, f.inputs, preset, *(_count(counts.get((f.name, preset, b))) for b in backbones)]
        for f in families
        for preset in f.presets
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [_line(header, widths), _line(["-" * w for w in widths], widths)]
    return "\n".join([*lines, *(_line(row, widths) for row in rows)])


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _line(cells: list[str], widths: list[int]) -> str:
    aligned = [
        cell.rjust(width) if i >= 3 else cell.ljust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(aligned).rstrip()
