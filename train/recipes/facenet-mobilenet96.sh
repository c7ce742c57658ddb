#!/usr/bin/env bash
# The recipe of the default FaceNet model: MobileNetV1, 96x96 input, trained
# from scratch on LFW's training identities (../shared/data/lfw_train), and
# evaluated each epoch on LFW fold 1 (identity-disjoint). Resumes the run in
# runs/facenet-mobilenet96 when it has a checkpoint, so it can be stopped and
# started again (e.g. across sessions):
#   nohup bash train/recipes/facenet-mobilenet96.sh > runs/facenet-train.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data}
OUT=runs/facenet-mobilenet96
resume=()
[ -f "$OUT/latest.json" ] && resume=(--resume)
exec npx tsx train/facenet.ts --data "$DATA/lfw_train" --out "$OUT" --epochs 30 --input-size 96 --batch 8 \
  --pairs "$DATA/lfw_pairs_fold01/pairs_fold01.txt" --pairs-data "$DATA/lfw_pairs_fold01" "${resume[@]}"
