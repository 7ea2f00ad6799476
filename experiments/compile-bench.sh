#!/usr/bin/env bash
# Execution modes (#41), on an otherwise idle machine, each part its own resumable bench (run the script
# again to continue); then `python -m harness report --readme README.md`.
#   modes-mingru: tinyshakespeare's minGRU model (the scan cell, where torch.compile is said to pay most),
#            every backend in its default and its compiled or unrolled mode (results/bench/modes-mingru);
#   modes:   imdb/full (the fused LSTM) and names/full (the spiking LSTM) likewise, without
#            keras-torch+compile, which modes-mingru records failing (dynamo recompiles the Keras model's
#            call until its limit: FailOnRecompileLimitHit) after minutes of compiling (results/bench/modes);
#   compile: the compile cost, the first training step against sequence length 32..2048, for the fused
#            LSTM and minGRU's parallel scan (one layer of 256, batch 8: the length bench's shapes), each
#            backend's default and compiled modes (results/bench/compile-cost); a mode that compiles for
#            longer than --step-budget (600 s) is recorded as over budget.
# Each mode row is paired round by round with its backend's default row (the bench's `mode / default
# mode` verdicts). Workers are reused across repeats (--reuse-workers): a fresh worker per repeat would
# compile again each time; the first step, compilation included, is timed apart from the steady state.
#   experiments/compile-bench.sh [modes-mingru|modes|compile]...
set -euo pipefail
cd "$(dirname "$0")/.."
ALL=torch,torch+compile,jax,jax+unroll8,keras-jax,mxnet,keras,keras+xla,keras-torch,keras-torch+compile
MODES=${MODES:-torch,torch+compile,jax,jax+unroll8,keras-jax,mxnet,keras,keras+xla,keras-torch}
bench() {  # bench NAME ARGS...: into results/bench/NAME, resuming an unfinished one
    local out="results/bench/$1"; shift
    local resume=() f  # continue an unfinished bench there; after a finished one, start another
    for f in "$out"/bench-*/bench.json; do
        if [ -e "$f" ] && ! grep -q '"status": "finished"' "$f"; then resume=(--resume); fi
    done
    python -m harness bench --reuse-workers --no-progress --out "$out" "${resume[@]}" "$@"
}
for part in "${@:-modes-mingru modes compile}"; do
    for p in $part; do
        case "$p" in
            modes) bench modes --tasks imdb,names --scale full --backends "$MODES" \
                       --repeats 5 ;;
            modes-mingru) bench modes-mingru --tasks tinyshakespeare --scale mingru --backends "$ALL" \
                       --repeats 5 ;;
            compile) bench compile-cost --tasks tinyshakespeare --scale mingru --backends "$MODES" \
                         --set model.num_layers=1 --set recipe.batch_size=8 --set model.scan=parallel \
                         --sweep cell=lstm,mingru --sweep seq_len=32,128,512,2048 \
                         --repeats 1 --steps 2 --min-time 0 --warmup 0 --no-gemm ;;
            *) echo "compile-bench.sh: unknown part '$p'; give modes, modes-mingru or compile" >&2; exit 2 ;;
        esac
    done
done
