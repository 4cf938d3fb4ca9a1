#!/usr/bin/env bash
# The main job end to end on the embedded default: an ABC folk-tune collection that ships with
# music21 (installed with mg), the local SQLite MLflow store (./mlflow.db), a tiny model.
# Each stage says where the demo is and, when done, how long it took.
# DEMO_OUT, DEMO_CORPUS and DEMO_STEPS override the defaults.
set -euo pipefail
MG=.venv/bin/mg
OUT=${DEMO_OUT:-demo-out}
STEPS=${DEMO_STEPS:-120}  # 120 × 16 segments of 256 frames: about 5 minutes of one core
TIMES=()
DEMO_START=$SECONDS

clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

# stage N NAME WHAT COMMAND...: announce, run, and remember how long it took.
stage() {
    local number=$1 name=$2 what=$3
    shift 3
    echo "== $number/6 $name: $what"
    local started=$SECONDS
    "$@"
    local took=$((SECONDS - started))
    TIMES+=("$(printf '%-9s %6s' "$name" "$(clock $took)")")
    echo "== $name took $(clock $took)"
}

install() { make --no-print-directory -s install; }

inspect_one() {
    local first
    first=$(find "$CORPUS" -name '*.abc' | sort | head -n 1)
    $MG inspect "$first" --png "$OUT/inspect.png" | tail -n 12
}

ingest() { $MG ingest "$CORPUS" --out "$OUT/dataset" --workers 2 --transpose=-2:2 --overwrite; }

train() {
    # --max-steps alone bounds the run (the epochs it spans depend on the corpus's size).
    OMP_NUM_THREADS=1 $MG train --data "$OUT/dataset" --preset tiny --backbone lstm \
        --max-steps "$STEPS" --batch-size 16 --samples 2 --experiment demo --register demo --seed 0
}

generate() {
    $MG generate --model-uri models:/demo@champion --num 4 --steps 256 --seed 1 \
        --out "$OUT/generated" --png
}

evaluate() { $MG evaluate --model-uri models:/demo@champion --data "$OUT/dataset" --split test --num 4; }

stage 1 install "create .venv and install mg (skipped when already installed)" install
CORPUS=${DEMO_CORPUS:-$(.venv/bin/python -c "from mg.data.corpus import demo_corpus; print(demo_corpus())")}
mkdir -p "$OUT"
stage 2 inspect "what one file of the corpus becomes" inspect_one
stage 3 ingest "the corpus to sharded Parquet (Beam DirectRunner, 2 processes)" ingest
stage 4 train "a tiny three-branch LSTM, $STEPS steps, tracked in MLflow and registered as 'demo'" train
stage 5 generate "four new pieces from models:/demo@champion" generate
stage 6 evaluate "the champion on the test split" evaluate

echo
echo "== time per stage"
printf '%s\n' "${TIMES[@]}"
printf '%-9s %6s\n' total "$(clock $((SECONDS - DEMO_START)))"
cat <<MSG

Done. MIDI and piano rolls: $OUT/generated/   dataset: $OUT/dataset/   runs: ./mlflow.db, artifacts: ./mlruns/
Next (with .venv/bin/ on PATH: source .venv/bin/activate, or type .venv/bin/mg):
  mg compare demo                              the runs side by side in the terminal
  mg ui                                        the MLflow UI (then open http://127.0.0.1:5000)
  mg generate --model-uri models:/demo@champion --num 2 --out out --png --wav   audio too (make system-deps)
  mg ingest YOUR_FOLDER --out data/mine && mg train --data data/mine --register mine   your own corpus
MSG
