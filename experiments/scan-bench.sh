#!/usr/bin/env bash
# The scan cells' sequence-length bench (#32), on an otherwise idle machine, in three benches (each
# resumable: run the script again to continue). One layer of 256 and batch 8 (tinyshakespeare's mingru
# scale otherwise):
#   parallel:   every scan cell in its parallel form and the fused LSTM at the same size, seq_len 64..1024,
#               every backend;
#   sequential: every scan cell's step loop, seq_len 64 and 256, every backend;
#   long:       minGRU both ways at 4096 steps, on the backends whose step loop takes seconds there
#               (keras-torch's eager Python loop over 4096 steps takes minutes a step: left out);
#   long-cells: minLSTM and RG-LRU both ways at 4096 steps, on the same backends (results/bench/
#               scan-long-cells); keras-torch's parallel form apart (keras-torch-long), its loop left out.
# Then `python -m harness report --readme README.md`.
#   experiments/scan-bench.sh [parallel|sequential|long]...
set -euo pipefail
cd "$(dirname "$0")/.."
ALL=torch,jax,keras-jax,mxnet,keras,keras-torch
common=(--tasks tinyshakespeare --scale mingru --set model.num_layers=1 --set recipe.batch_size=8
        --repeats 3 --steps 3 --min-time 0.3 --warmup 1 --reuse-workers --no-progress)
bench() {  # bench NAME ARGS...: into results/bench/scan-NAME, resuming an unfinished one
    local out="results/bench/scan-$1"; shift
    local resume=() f  # continue an unfinished bench there; after a finished one, start another
    for f in "$out"/bench-*/bench.json; do
        if [ -e "$f" ] && ! grep -q '"status": "finished"' "$f"; then resume=(--resume); fi
    done
    python -m harness bench "${common[@]}" --out "$out" "${resume[@]}" "$@"
}
for part in "${@:-parallel sequential long long-cells keras-torch-long}"; do
    for p in $part; do
        case "$p" in
            parallel) bench parallel --backends "$ALL" --set model.scan=parallel \
                          --sweep cell=mingru,minlstm,rglru,lstm --sweep seq_len=64,256,1024 ;;
            sequential) bench sequential --backends "$ALL" --set model.scan=sequential \
                          --sweep cell=mingru,minlstm,rglru --sweep seq_len=64,256 ;;
            long) bench long --backends torch,jax,keras-jax,keras,mxnet --set model.cell=mingru \
                          --set shape.seq_len=4096 --sweep scan=parallel,sequential ;;
            long-cells) bench long-cells --backends torch,jax,keras-jax,keras,mxnet \
                          --sweep cell=minlstm,rglru --set shape.seq_len=4096 --sweep scan=parallel,sequential ;;
            keras-torch-long) bench keras-torch-long --backends keras-torch --set model.scan=parallel \
                          --sweep cell=mingru,minlstm,rglru --set shape.seq_len=4096 ;;
            *) echo "scan-bench.sh: unknown part '$p'; give parallel, sequential, long, long-cells or" \
                    "keras-torch-long" >&2; exit 2 ;;
        esac
    done
done
