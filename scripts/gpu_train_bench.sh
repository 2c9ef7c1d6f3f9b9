#!/usr/bin/env bash
# Issue 13 item 9 on an NVIDIA H100/H200-class machine: VLAD adapter training and VLAD inference.
# Random weights of the real architectures (ViT-L-14): the real cost, meaningless scores.
#
#   scripts/gpu_train_bench.sh [OUT_DIR]          # GPU: the figures for docs/BENCHMARKS.md
#   scripts/gpu_train_bench.sh --tiny [OUT_DIR]   # CPU smoke test of this script (tiny CLIP)
#
# 1. training, 1 process: 2,000 rule-based samples at 512 px, batch 16 (target <= 5 min)
# 2. the same on 2 processes (accelerate launch; needs 2 GPUs, skipped with a note on one)
# 3. inference: `inspector bench --engine vlad` at model input 336 and 518, 16 references,
#    batch 1 p50 (target <= 10 ms at 336) and batch-16 throughput
# Each step writes OUT_DIR/<step>.json; the console shows the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
TINY=0
if [ "${1:-}" = "--tiny" ]; then TINY=1; shift; fi
OUT="${1:-bench-gpu}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$TINY" = 1 ]; then
  export OMP_NUM_THREADS=1
  TRAIN=(--tiny)
  DEV=cpu
  INFER=(--set model_id=clip-vit-b-16 --size 64 --refs 2)
  N1=(--n 2) N16=(--batch 2 --n 4)
  SIZES=(64)
  LAUNCH2=("$PY" -m torch.distributed.run --nproc_per_node 2 --master_port "${PORT:-29533}")
  NGPU=0
else
  TRAIN=(--device cuda --samples 2000 --image-size 512 --batch 16 --workers "${WORKERS:-8}")
  DEV=cuda
  INFER=(--set model_id=clip-vit-l-14 --size 512 --refs 16)
  N1=(--n 50) N16=(--batch 16 --n 160)
  SIZES=(336 518)
  LAUNCH2=("$PY" -m accelerate.commands.launch --multi_gpu --num_processes 2 --num_machines 1)
  NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

echo "== VLAD adapter training, 1 process"
"$PY" scripts/bench_vlad_train.py "${TRAIN[@]}" --json "$OUT/train_1proc.json"

if [ "$TINY" = 1 ] || [ "$NGPU" -ge 2 ]; then
  echo "== VLAD adapter training, 2 processes"
  "${LAUNCH2[@]}" scripts/bench_vlad_train.py "${TRAIN[@]}" --json "$OUT/train_2proc.json"
else
  echo "== VLAD adapter training, 2 processes: skipped — $NGPU GPU here; 2 processes need 2 GPUs" \
       "(NCCL does not run two ranks on one GPU)" | tee "$OUT/train_2proc.txt"
fi

for S in "${SIZES[@]}"; do
  echo "== VLAD inference, model input $S, batch 1"
  "$PY" -m inspector bench --engine vlad --device "$DEV" --random-weights "${INFER[@]}" \
      --set image_size="$S" "${N1[@]}" --json "$OUT/infer_${S}_b1.json"
  echo "== VLAD inference, model input $S, batch 16"
  "$PY" -m inspector bench --engine vlad --device "$DEV" --random-weights "${INFER[@]}" \
      --set image_size="$S" "${N16[@]}" --json "$OUT/infer_${S}_b16.json"
done
echo "== done: $OUT"
