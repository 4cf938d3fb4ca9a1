#!/usr/bin/env bash
# The main job end to end on the embedded default: an ABC folk-tune collection that ships with
# music21 (installed with mg), the local SQLite MLflow store (./mlflow.db), a tiny model.
# DEMO_OUT, DEMO_CORPUS and DEMO_STEPS override the defaults.
set -euo pipefail
MG=.venv/bin/mg
OUT=${DEMO_OUT:-demo-out}
CORPUS=${DEMO_CORPUS:-$(.venv/bin/python -c "from mg.data.corpus import demo_corpus; print(demo_corpus())")}
STEPS=${DEMO_STEPS:-300}
mkdir -p "$OUT"

echo "== 1/5 mg inspect: what one file of the corpus becomes"
FIRST=$(find "$CORPUS" -name '*.abc' | sort | head -n 1)
$MG inspect "$FIRST" --png "$OUT/inspect.png" | tail -n 12

echo "== 2/5 mg ingest: the corpus to sharded Parquet (Beam DirectRunner, 2 processes)"
$MG ingest "$CORPUS" --out "$OUT/dataset" --workers 2 --transpose=-2:2 --overwrite

echo "== 3/5 mg train: a tiny three-branch LSTM, tracked in MLflow and registered as 'demo'"
OMP_NUM_THREADS=1 $MG train --data "$OUT/dataset" --preset tiny --backbone lstm --epochs 3 --max-steps "$STEPS" \
    --batch-size 32 --samples 2 --experiment demo --register demo --seed 0

echo "== 4/5 mg generate: four new pieces from models:/demo@champion"
$MG generate --model-uri models:/demo@champion --num 4 --steps 256 --seed 1 --out "$OUT/generated" --png

echo "== 5/5 mg evaluate: the champion on the test split"
$MG evaluate --model-uri models:/demo@champion --data "$OUT/dataset" --split test --num 4

cat <<MSG

Done. MIDI and piano rolls: $OUT/generated/   dataset: $OUT/dataset/   runs: ./mlflow.db
Compare the runs in the MLflow UI:   .venv/bin/mg ui    (then open http://127.0.0.1:5000)
Side by side in the terminal:        .venv/bin/mg compare demo
MSG
