#!/usr/bin/env bash
# Reproduce the shipped stage-2 weights (docs/stage2.md, "The shipped weights"): the 10-hour corpus, a run from
# scratch with the per-event closure hinge, fine-tunes that raise its weight (6 → 20 → 60 → 150; each starts from
# the last), two longer fits at 150 with a lower learning rate, then the lips sealed by mouthClose's share
# (--seal-lips) at 150 and at 400; then a second corpus (seed 1) joins the first's train split for one fit at 400 and
# one with the lip-vertex term, and a third (seed 2) for one more with it (session 11). About 55 min for the three
# corpora and 2.4 hours of training on two CPU cores; a CUDA GPU is used when torch sees one.
#   scripts/train_stage2_shipped.sh WORKDIR      (then compare WORKDIR/s2x3 with weights/stage2)
set -euo pipefail
work=${1:?usage: scripts/train_stage2_shipped.sh WORKDIR}
cd "$(dirname "$0")/.."
avitalk=${AVITALK:-.venv/bin/avitalk}
mkdir -p "$work"
[ -f "$work/c10b/manifest.json" ] || "$avitalk" corpus build --hours 10 --out "$work/c10b" --seed 0
common=(--corpus "$work/c10b" --threads 2 --val-clips 120 --closure events)
"$avitalk" train stage2 "${common[@]}" --out "$work/s2e" --loss-weight closure=6
"$avitalk" train stage2 "${common[@]}" --out "$work/s2e20" --init "$work/s2e" --epochs 4 --loss-weight closure=20
"$avitalk" train stage2 "${common[@]}" --out "$work/s2e60" --init "$work/s2e20" --epochs 4 --loss-weight closure=60
"$avitalk" train stage2 "${common[@]}" --out "$work/s2e150" --init "$work/s2e60" --epochs 4 --loss-weight closure=150
"$avitalk" train stage2 "${common[@]}" --out "$work/s2e150b" --init "$work/s2e150" --epochs 4 --lr 1e-3 \
    --loss-weight closure=150 --prior-steps 2000
"$avitalk" train stage2 "${common[@]}" --out "$work/s2e150c" --init "$work/s2e150b" --epochs 8 --lr 1e-3 \
    --loss-weight closure=150
"$avitalk" train stage2 "${common[@]}" --out "$work/s2es3" --init "$work/s2e150c" --seal-lips --epochs 8 --lr 1e-3 \
    --loss-weight closure=150
"$avitalk" train stage2 "${common[@]}" --out "$work/s2es4" --init "$work/s2es3" --seal-lips --epochs 6 --lr 1e-3 \
    --loss-weight closure=400
[ -f "$work/c11/manifest.json" ] || "$avitalk" corpus build --hours 12 --out "$work/c11" --seed 1
"$avitalk" train stage2 "${common[@]}" --extra-corpus "$work/c11" --out "$work/s2x1" --init "$work/s2es4" --seal-lips \
    --epochs 4 --lr 5e-4 --loss-weight closure=400 --prior-steps 2000
"$avitalk" train stage2 "${common[@]}" --extra-corpus "$work/c11" --out "$work/s2x2" --init "$work/s2x1" --seal-lips \
    --epochs 3 --lr 5e-4 --loss-weight closure=400 --loss-weight lips=4 --prior-steps 2000
[ -f "$work/c12/manifest.json" ] || "$avitalk" corpus build --hours 12 --out "$work/c12" --seed 2
"$avitalk" train stage2 "${common[@]}" --extra-corpus "$work/c11" --extra-corpus "$work/c12" --out "$work/s2x3" \
    --init "$work/s2x2" --seal-lips --epochs 3 --lr 5e-4 --loss-weight closure=400 --loss-weight lips=4 --prior-steps 2000
