#!/usr/bin/env bash
# Fine-tunes stage 1 of the default FaceNet model (facenet-mobilenet96.sh,
# 30 epochs at 96x96) at a larger input, 112x112: the nets are
# convolutional, and the same face crop sampled at 1.36x the pixels shows
# finer detail. 8 epochs on a fresh warm-up + cosine from 1e-4, another
# sampling seed. (Training on at 96x96 instead, facenet-mobilenet96-stage2.sh,
# did not raise LFW accuracy: runs/README.md.) Resumable:
#   nohup bash train/recipes/facenet-mobilenet112-finetune.sh > runs/facenet-train-112.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data}
STAGE1=runs/facenet-mobilenet96
OUT=runs/facenet-mobilenet112-finetune
if [ -f "$OUT/latest.json" ]; then
  start=(--resume)
elif [ -f "$STAGE1/latest.json" ]; then
  ckpt=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).checkpoint)' "$STAGE1/latest.json")
  start=(--init "$STAGE1/$ckpt/model.safetensors")
else
  # stage 1's final weights (step 7650), kept in git so that this fine-tune
  # can be re-run without re-running stage 1's four hours
  start=(--init "$STAGE1/stage1-final.safetensors")
fi
exec npx tsx train/facenet.ts --data "$DATA/lfw_train" --out "$OUT" --epochs 8 --input-size 112 --batch 8 \
  --lr 1e-4 --warmup-steps 100 --seed 3 \
  --pairs "$DATA/lfw_pairs_fold01/pairs_fold01.txt" --pairs-data "$DATA/lfw_pairs_fold01" "${start[@]}"
