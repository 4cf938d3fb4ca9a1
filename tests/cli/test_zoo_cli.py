"""`mg zoo` on the real app: every family, backbone and preset, with true parameter counts."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from mg import zoo
from mg.cli.app import app
from mg.models.layers import count_parameters
from mg.representation.grid import Grid


def test_zoo_lists_every_family_preset_and_backbone_with_parameter_counts():
    result = CliRunner().invoke(app, ["zoo"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["family", "inputs", "preset"]
    columns = re.findall(r"params \((\w+)\)", lines[0])  # one per backbone of any family
    for family in zoo.families():
        assert any(family.summary in line for line in lines)
        for preset in family.presets:
            row = next(
                ln.split() for ln in lines if ln.split()[:3] == [family.name, family.inputs, preset]
            )
            shown = dict(zip(columns, row[3:], strict=True))
            for backbone in columns:
                if backbone not in family.backbones:
                    assert shown[backbone] == "-"
                    continue
                model = family.build(family.make_config(preset, Grid(), backbone=backbone))
                assert shown[backbone] == f"{count_parameters(model):,}"


def test_zoo_lists_the_output_heads_and_marks_the_default():
    from mg.models.heads import DEFAULT_HEAD, HEADS

    output = CliRunner().invoke(app, ["zoo"]).output
    for name, head in HEADS.items():
        shown = f"  {name} (default): " if name == DEFAULT_HEAD else f"  {name}: "
        assert shown + head.summary in output
