#!/usr/bin/env bash
# The main job end to end on the embedded default corpus and the local SQLite MLflow store.
set -euo pipefail
MG=.venv/bin/mg
OUT=${DEMO_OUT:-demo-out}
mkdir -p "$OUT"
CORPUS=$(.venv/bin/python -c "from musicgen.corpus import demo_corpus; print(demo_corpus())")
echo "== mg inspect $(basename "$CORPUS")"
$MG inspect "$CORPUS" --png "$OUT/inspect.png"
