#!/usr/bin/env bash
# The GPU rows in one device lease: `benchmarks/gpu_rows.sh [--device gpu|cpu] [--quick]`.
#
# One prepared script that fits a 15-minute device budget, machine start included: in order of importance,
#   1. peak:    the device's matrix-multiply rate (benchmarks/gemm_peak.py), the denominator of "fraction
#               of peak";
#   2. scan:    the scan cells' length bench (#32) on the device: tinyshakespeare's mingru scale at one
#               layer of 256, batch 32, seq_len 256, 1024 and 4096, in three benches:
#                 scan-parallel:     minGRU, minLSTM and RG-LRU in their parallel form, and the fused LSTM
#                                    at the same shapes (the yardstick), on every backend;
#                 scan-sequential:   the three cells' step loops on torch, jax and keras-jax;
#                 scan-sequential-kt: keras-torch's step loop (an eager Python loop) at 256 and 1024 only;
#   3. verdict: a paired bench of torch against jax, imdb/full training at batch 4096 and 1024, 8 rounds
#               (a plain bench judges every backend against the point's fastest: here, the other one);
#   4. doctor:  the GPU check (benchmarks/gpu_check.sh: parity, smoke per precision with the kernel path
#               checked), imdb in fp32 and bf16, LSTM parity, on an eighth of the budget;
#   5. sweeps:  imdb batch size 4096..64 (batch-fp32) and hidden size 1024..100 (hidden-fp32), then both
#               in bf16, the largest values first (a bench runs its points in order: a cut keeps them);
#   6. smoke-fp16: keras-jax's imdb smoke run in fp16 (bf16 on a CPU: fp16 needs a GPU's loss scaling);
#   7. seed:    with whatever time is left, the bench of the seed configurations' full scale, fp32;
# on torch, jax, keras-jax and keras-torch (the backends with a CUDA build there). Each phase is cut at its
# share of what is left of $BUDGET_S (560; 900 with --quick) by `timeout`; the bench writes every
# finished repeat atomically, so a cut phase keeps what it measured. Every bench keeps one worker per
# backend (--reuse-workers: a fresh process per repeat would spend the budget on imports and
# compilation), each JAX worker taking at most a fifth of the GPU's memory so that the four live side by
# side.
#
# Everything lands in DEST ($OUT where set, else results/gpu-rows/<UTC time>): rows.tar.gz (every
# record, repacked after each phase, so a cut run still returns what finished), gpu_rows.log and
# peak.json. `--device cpu --quick` runs the same phases on a CPU at tiny sizes, within 15 minutes on 2
# cores (a check of the script before a lease). Unpack the records here (docs/doctor.md, "GPU rows"): each bench
# folder of rows.tar.gz's bench/*/ into results/bench/, peak.json into results/peak/, then
# `python -m harness report --readme README.md` (the scan benches make its length table).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

DEVICE=gpu
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        *) echo "gpu_rows: unknown option $1 (use --device gpu|cpu, --quick)" >&2; exit 2 ;;
    esac
done
PY="${PYTHON:-python3}"
DEST="${OUT:-results/gpu-rows/$(date -u +%Y%m%dT%H%M%S)}"
# a CPU starts the frameworks' workers far slower: the quick run has more time, so that no phase is cut
BUDGET_S="${BUDGET_S:-$([ "$QUICK" = 1 ] && echo 900 || echo 560)}"
BACKENDS="${BACKENDS:-torch,jax,keras-jax,keras-torch}"
START=$(date +%s)
mkdir -p "$DEST"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rnnbench-gpu-rows.XXXXXX")"
LOG="$DEST/gpu_rows.log"

if [ -z "${RNNBENCH_DATA_DIR:-}" ]; then
    for d in shared/data ../shared/data; do
        if [ -d "$d" ]; then RNNBENCH_DATA_DIR="$(cd "$d" && pwd)"; export RNNBENCH_DATA_DIR; break; fi
    done
fi
export RNNBENCH_CACHE_DIR="${RNNBENCH_CACHE_DIR:-$WORK/cache}"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.2 TF_FORCE_GPU_ALLOW_GROWTH=true
# every process this run starts inherits this mark: a cut bench's workers (sessions of their own, which
# `timeout` does not reach) are found by it and ended, and no other run's are
export RNNBENCH_GPU_ROWS_RUN="$WORK"

# the scan benches' step loops: keras-torch's is an eager Python loop, minutes a training step at 4096
# steps, so it runs in a bench of its own without the longest length, after the others
SEQ_BACKENDS=$(echo ",$BACKENDS," | sed 's/,keras-torch,/,/; s/^,//; s/,$//')
case ",$BACKENDS," in *,keras-torch,*) KT=1 ;; *) KT=0 ;; esac

if [ "$QUICK" = 1 ]; then
    SEED_TASKS=five-words; BATCHES=16,4; HIDDENS=32,16; BENCH=(--steps 2 --min-time 0 --warmup 1 --repeats 2)
    SEED_SET=(--scale smoke); SWEEP_TASK=imdb; SWEEP_SET=(--scale smoke --set seq_len=16)
    SCAN_SET=(--scale mingru-smoke --set model.num_layers=1 --set recipe.batch_size=4)
    SCAN_LENS=16,32; KT_LENS=16; SCAN_BENCH=(--steps 2 --min-time 0 --warmup 1 --repeats 2 --no-gemm)
    # 6 rounds: the fewest a verdict takes, so that the quick run makes one
    VERDICT_SET=(--scale smoke --set seq_len=16); VERDICT_BATCHES=8,4
    VERDICT_BENCH=(--steps 2 --min-time 0 --warmup 1 --repeats 6 --no-gemm)
    LOW=bf16  # fp16 needs a GPU (loss scaling); the quick run checks the phase with bf16
    DOCTOR=(--tasks five-words --precisions fp32 --parity-cells lstm --parity-steps 2 --bench-tasks five-words
            --bench-scale smoke --bench-steps 2)
else
    SEED_TASKS=imdb,ptb,names,timemachine,tinyshakespeare,arithmetic
    # largest first: the H200 lease's sweeps were cut before 1024/4096 and 512/1024
    BATCHES=4096,1024,256,64; HIDDENS=1024,512,256,100; BENCH=(--steps 10 --min-time 0.3 --warmup 3 --repeats 3)
    SEED_SET=(); SWEEP_TASK=imdb; SWEEP_SET=()
    # one layer of 256 (the mingru scale's width), batch 32; the points go length by length (every cell
    # at 256, then at 1024...), so a cut loses the longest lengths, not whole cells (two give an exponent)
    SCAN_SET=(--scale mingru --set model.num_layers=1 --set recipe.batch_size=32)
    SCAN_LENS=256,1024,4096; KT_LENS=256,1024; SCAN_BENCH=(--steps 5 --min-time 0.2 --warmup 1 --repeats 3 --no-gemm)
    # 8 paired rounds of the two rows (a verdict takes at least 6; docs/bench.md, "Verdicts");
    # a plain bench has fixed rounds (--max-rounds' sequential stopping is for --variant/--against only)
    VERDICT_SET=(--scale full); VERDICT_BATCHES=4096,1024
    VERDICT_BENCH=(--steps 10 --min-time 0.3 --warmup 3 --repeats 8 --no-gemm)
    LOW=fp16
    # shellcheck disable=SC2054  # (commas within options' values)
    DOCTOR=(--tasks imdb --precisions fp32,bf16 --parity-cells lstm --bench-tasks imdb --bench-steps 5)
fi

say() { echo "gpu_rows [$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }

pack() {  # every record so far, packed beside the log; replaced atomically so a cut run returns a whole file
    tar -czf "$DEST/.rows.tar.gz" -C "$WORK" --exclude=cache . 2>/dev/null && mv "$DEST/.rows.tar.gz" "$DEST/rows.tar.gz"
}

stop_workers() {  # this run's workers that a cut bench left behind: they would mark the next phase's figures busy
    local pid
    for pid in $(pgrep -f "harness (bench|doctor|parity|smoke)-worker"); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "RNNBENCH_GPU_ROWS_RUN=$WORK"; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
}

phase() {  # phase NAME SHARE COMMAND...: run COMMAND for at most SHARE % of the budget left, log, pack
    local name="$1" share="$2"; shift 2
    local left=$(( BUDGET_S - ($(date +%s) - START) ))
    local limit=$(( left * share / 100 ))
    if [ "$limit" -lt 20 ]; then say "$name: skipped ($left s left)"; return; fi
    say "$name: at most $limit s: $*"
    timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
    local status=$?
    stop_workers; sleep 1
    say "$name: exit $status$([ $status = 124 ] && echo ' (cut at its share; finished repeats kept)')"
    pack
}

# an interleaved bench; each phase adds its backends, --out and what it varies
BENCH_CMD=("$PY" -m harness bench --device "$DEVICE" --reuse-workers --no-progress)
SCAN=("${BENCH_CMD[@]}" "${SCAN_BENCH[@]}" --tasks tinyshakespeare "${SCAN_SET[@]}")
SWEEP=("${BENCH_CMD[@]}" "${BENCH[@]}" --backends "$BACKENDS" --tasks "$SWEEP_TASK" "${SWEEP_SET[@]}")

if [ "$DEVICE" = gpu ] && [ -d .whl ]; then  # keras (and what it needs beyond the image) carried as wheels
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
        >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
say "device $DEVICE, backends $BACKENDS, budget $BUDGET_S s, data ${RNNBENCH_DATA_DIR:-none}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$LOG" 2>&1 || true

# Shares of the budget left when a phase starts; at 560 s, were every phase to use all of its share:
# peak 56 (it takes ~10), scan 132 + 79 + 33, verdict 70, doctor 70 (its own budget 67), sweeps 38 + 33 +
# 26 + 20, smoke-fp16 34, seed the rest (a phase given under 20 s is skipped). A phase that ends early
# leaves its time to the next.
phase peak 10 "$PY" benchmarks/gemm_peak.py --device "$DEVICE" --out "$WORK/peak.json"
cp "$WORK/peak.json" "$DEST/" 2>/dev/null
# the lstm point of each length has no step loop to choose: the bench drops its model.scan=parallel
phase scan-parallel 24 "${SCAN[@]}" --backends "$BACKENDS" --out "$WORK/bench/scan-parallel" \
    --set model.scan=parallel --sweep seq_len="$SCAN_LENS" --sweep cell=mingru,minlstm,rglru,lstm
if [ -n "$SEQ_BACKENDS" ]; then
    phase scan-sequential 19 "${SCAN[@]}" --backends "$SEQ_BACKENDS" --out "$WORK/bench/scan-sequential" \
        --set model.scan=sequential --sweep seq_len="$SCAN_LENS" --sweep cell=mingru,minlstm,rglru
fi
if [ "$KT" = 1 ]; then  # keras-torch's eager step loop: not at 4096 steps (minutes a training step there)
    phase scan-sequential-kt 10 "${SCAN[@]}" --backends keras-torch --out "$WORK/bench/scan-sequential-kt" \
        --set model.scan=sequential --sweep seq_len="$KT_LENS" --sweep cell=mingru,minlstm,rglru
fi
phase verdict 23 "${BENCH_CMD[@]}" "${VERDICT_BENCH[@]}" --backends torch,jax --out "$WORK/bench/verdict" \
    --tasks imdb "${VERDICT_SET[@]}" --sweep batch_size="$VERDICT_BATCHES"
# TODO(#44): compiled modes (torch.compile and the like) have not landed; when they do, their bench goes
# here, after the verdict: the compiled rows against the eager ones, at the verdict's imdb points.
DOCTOR_S=$(( BUDGET_S * 12 / 100 ))
phase doctor 30 env BUDGET_S="$DOCTOR_S" PYTHON="$PY" benchmarks/gpu_check.sh "$WORK/doctor-$DEVICE" \
    --device "$DEVICE" --backends "$BACKENDS" "${DOCTOR[@]}"
phase batch-fp32 23 "${SWEEP[@]}" --out "$WORK/bench/batch-fp32" --sweep batch_size="$BATCHES"
phase hidden-fp32 26 "${SWEEP[@]}" --out "$WORK/bench/hidden-fp32" --sweep hidden_size="$HIDDENS"
phase batch-bf16 28 "${SWEEP[@]}" --out "$WORK/bench/batch-bf16" --sweep batch_size="$BATCHES" --precision bf16
phase hidden-bf16 30 "${SWEEP[@]}" --out "$WORK/bench/hidden-bf16" --sweep hidden_size="$HIDDENS" --precision bf16
phase "smoke-$LOW" 70 "$PY" -m harness run --task imdb --backend keras-jax --scale smoke --precision "$LOW" \
    --device "$DEVICE" --out "$WORK/runs/keras-jax-$LOW" --no-progress
phase seed 95 "${BENCH_CMD[@]}" "${BENCH[@]}" --backends "$BACKENDS" --out "$WORK/bench/seed-fp32" \
    --tasks "$SEED_TASKS" "${SEED_SET[@]}"
pack
say "done; records in $DEST/rows.tar.gz"
