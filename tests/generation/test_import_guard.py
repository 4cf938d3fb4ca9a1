"""`mg generate` never imports pyarrow (nor pandas): the Parquet side is for ingest, training and
evaluation, and its import is a large share of the command's start-up (issue 20); nor torch's
compiler stack (dynamo, sympy), which a model built on the meta device for its shape check
loads when a family computes on tensors while it is built (mg.models.checks.shapes_only).
Checked in a fresh interpreter that imports the command's module and generates from a model
folder of each input kind, as the command does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mg.models import registry
from mg.models.saving import save_model
from mg.representation.grid import Grid

GENERATE = """
import json, sys
from pathlib import Path
import mg.cli.generate_cmd
from mg.generation.generate import GenerateOptions, generate
from mg.generation.sampling import SamplingOptions

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
result = generate(str(folder), GenerateOptions(SamplingOptions(steps=8), out=out))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pyarrow", "pandas", "sympy"))
heavy += [m for m in ("torch._dynamo",) if m in sys.modules]
print(json.dumps({"files": [str(p) for p in result.files], "heavy": heavy}))
"""


@pytest.mark.parametrize("family", ["three-branch", "pianoroll-rnn", "char-rnn", "transformer"])
def test_mg_generate_imports_neither_pyarrow_nor_torchs_compiler(family, tmp_path):
    grid = Grid(bars=1, low=48, high=71)
    spec = registry.get(family)
    model = spec.build(spec.make_config("tiny", grid))
    folder = save_model(tmp_path / "model", family, model, grid)
    command = [sys.executable, "-c", GENERATE, str(folder), str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["files"], "the model generated no file"
    assert report["heavy"] == [], f"mg generate imported {report['heavy'][:5]}"
