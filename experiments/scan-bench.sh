#!/usr/bin/env bash
# The scan cells' sequence-length bench (#32): every scan cell, sequential against parallel, and the fused
# LSTM at the same size, over seq_len 64..4096, on every backend; on an otherwise idle machine. One layer
# of 256 and batch 8 (tinyshakespeare's mingru scale otherwise), so that the 4096-step sequential loops
# fit in minutes. Resumable: run it again to continue (`bench --resume`). Then `python -m harness report`.
#   RNNBENCH_DATA_DIR=../shared/data experiments/scan-bench.sh [BACKENDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${1:-torch,jax,keras-jax,mxnet,keras,keras-torch}"
OUT=results/bench/scan-cells
common=(--tasks tinyshakespeare --scale mingru --backends "$BACKENDS" --set model.num_layers=1
        --set recipe.batch_size=8 --repeats 3 --steps 3 --min-time 0.5 --warmup 1 --reuse-workers
        --out "$OUT")
resume=(); ls "$OUT"/bench-*/bench.json >/dev/null 2>&1 && resume=(--resume)
python -m harness bench "${common[@]}" "${resume[@]}" --sweep cell=mingru,minlstm,rglru,lstm \
    --sweep scan=parallel,sequential --sweep seq_len=64,256,1024,4096
