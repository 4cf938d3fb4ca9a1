"""`mg zoo` on the real app: every family, backbone and preset, with true parameter counts."""

from __future__ import annotations

from typer.testing import CliRunner

from mg import zoo
from mg.cli.app import app
from mg.models.layers import count_parameters


def test_zoo_lists_every_family_preset_and_backbone_with_parameter_counts():
    result = CliRunner().invoke(app, ["zoo"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["family", "inputs", "preset"]
    for family in zoo.families():
        assert any(family.summary in line for line in lines)
        for preset in family.presets:
            row = next(
                ln.split() for ln in lines if ln.split()[:3] == [family.name, family.inputs, preset]
            )
            for backbone, shown in zip(family.backbones, row[3:], strict=True):
                model = family.build(family.make_config(preset, backbone=backbone))
                assert shown == f"{count_parameters(model):,}"
