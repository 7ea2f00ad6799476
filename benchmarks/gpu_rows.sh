#!/usr/bin/env bash
# The GPU rows in one device lease: `benchmarks/gpu_rows.sh [--device gpu|cpu] [--quick]`.
#
# One prepared script that fits a 15-minute device budget, machine start included: in order of importance,
#   1. peak:    the device's matrix-multiply rate (benchmarks/gemm_peak.py), the denominator of "fraction
#               of peak";
#   2. doctor:  the GPU check (benchmarks/gpu_check.sh: parity, smoke per precision with the kernel path
#               checked, keras-jax in bf16 and fp16 among them), on a short budget;
#   3. seed:    the bench of the seed configurations' full scale, fp32;
#   4. batch:   an imdb batch-size sweep 64..4096, fp32, then bf16;
#   5. hidden:  an imdb hidden-size sweep 100..1024, fp32, then bf16;
#   6. seed-bf16: the imdb and ptb seed configurations in bf16;
# on torch, jax, keras-jax and keras-torch (the backends with a CUDA build there). Each phase is cut at its
# share of $BUDGET_S (560) by `timeout`; the bench writes every finished repeat atomically, so a cut phase
# keeps what it measured. Every bench keeps one worker per backend (--reuse-workers: a fresh process per
# repeat would spend the budget on imports and compilation), each JAX worker taking at most a fifth of
# the GPU's memory so that the four live side by side.
#
# Everything lands in DEST ($OUT where set, else results/gpu-rows/<UTC time>): rows.tar.gz (every
# record, repacked after each phase, so a cut run still returns what finished), gpu_rows.log and
# peak.json. `--device cpu --quick` runs the same phases on a CPU in a few minutes (the tests do).
# Unpack the records here (docs/doctor.md, "GPU rows"): each bench folder of rows.tar.gz's bench/*/ into
# results/bench/, peak.json into results/peak/, then `python -m harness report --readme README.md`.
set -uo pipefail
cd "$(dirname "$0")/.."

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
BUDGET_S="${BUDGET_S:-560}"
BACKENDS="${BACKENDS:-torch,jax,keras-jax,keras-torch}"
START=$(date +%s)
mkdir -p "$DEST"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rnnbench-gpu-rows.XXXXXX")"
LOG="$DEST/gpu_rows.log"

if [ -z "${RNNBENCH_DATA_DIR:-}" ]; then
    for d in shared/data ../shared/data; do
        if [ -d "$d" ]; then export RNNBENCH_DATA_DIR="$(cd "$d" && pwd)"; break; fi
    done
fi
export RNNBENCH_CACHE_DIR="${RNNBENCH_CACHE_DIR:-$WORK/cache}"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.2 TF_FORCE_GPU_ALLOW_GROWTH=true

if [ "$QUICK" = 1 ]; then
    SEED_TASKS=five-words; BATCHES=16,64; HIDDENS=16,32; BENCH=(--steps 2 --min-time 0 --warmup 1 --repeats 2)
    SEED_SET=(--scale smoke); SWEEP_TASK=imdb; SWEEP_SET=(--scale smoke)
    DOCTOR=(--tasks five-words --precisions fp32 --parity-cells lstm --parity-steps 2 --bench-tasks five-words
            --bench-scale smoke --bench-steps 2)
else
    SEED_TASKS=imdb,ptb,names,timemachine,tinyshakespeare,arithmetic
    BATCHES=64,256,1024,4096; HIDDENS=100,256,512,1024; BENCH=(--steps 10 --min-time 0.3 --warmup 3 --repeats 3)
    SEED_SET=(); SWEEP_TASK=imdb; SWEEP_SET=()
    DOCTOR=(--tasks imdb,ptb --precisions fp32,bf16,fp16 --bench-tasks imdb --bench-steps 5)
fi

say() { echo "gpu_rows [$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }

pack() {  # every record so far, packed beside the log; replaced atomically so a cut run returns a whole file
    tar -czf "$DEST/.rows.tar.gz" -C "$WORK" --exclude=cache . 2>/dev/null && mv "$DEST/.rows.tar.gz" "$DEST/rows.tar.gz"
}

phase() {  # phase NAME SHARE COMMAND...: run COMMAND for at most SHARE of the budget left, log, pack
    local name="$1" share="$2"; shift 2
    local left=$(( BUDGET_S - ($(date +%s) - START) ))
    local limit=$(( left * share / 100 ))
    if [ "$limit" -lt 20 ]; then say "$name: skipped ($left s left)"; return; fi
    say "$name: at most $limit s: $*"
    timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
    local status=$?
    # a cut bench leaves its workers behind; they would mark the next phase's figures busy
    pkill -f "harness (bench|doctor|parity|smoke)-worker" 2>/dev/null; sleep 1
    say "$name: exit $status$([ $status = 124 ] && echo ' (cut at its share; finished repeats kept)')"
    pack
}

# one interleaved bench of every backend; each phase adds --out and what it varies
BENCH_CMD=("$PY" -m harness bench --device "$DEVICE" --backends "$BACKENDS" --reuse-workers --no-progress "${BENCH[@]}")

if [ "$DEVICE" = gpu ] && [ -d .whl ]; then  # keras (and what it needs beyond the image) carried as wheels
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
        >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
say "device $DEVICE, backends $BACKENDS, budget $BUDGET_S s, data ${RNNBENCH_DATA_DIR:-none}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$LOG" 2>&1 || true

phase peak 10 "$PY" benchmarks/gemm_peak.py --device "$DEVICE" --out "$WORK/peak.json"
cp "$WORK/peak.json" "$DEST/" 2>/dev/null
DOCTOR_S=$(( BUDGET_S * 22 / 100 ))
phase doctor 30 env BUDGET_S="$DOCTOR_S" PYTHON="$PY" benchmarks/gpu_check.sh "$WORK/doctor-$DEVICE" \
    --device "$DEVICE" --backends "$BACKENDS" "${DOCTOR[@]}"
phase seed 35 "${BENCH_CMD[@]}" --out "$WORK/bench/seed-fp32" --tasks "$SEED_TASKS" "${SEED_SET[@]}"
phase batch-fp32 30 "${BENCH_CMD[@]}" --out "$WORK/bench/batch-fp32" --tasks "$SWEEP_TASK" "${SWEEP_SET[@]}" --sweep batch_size="$BATCHES"
phase hidden-fp32 35 "${BENCH_CMD[@]}" --out "$WORK/bench/hidden-fp32" --tasks "$SWEEP_TASK" "${SWEEP_SET[@]}" --sweep hidden_size="$HIDDENS"
phase batch-bf16 45 "${BENCH_CMD[@]}" --out "$WORK/bench/batch-bf16" --tasks "$SWEEP_TASK" "${SWEEP_SET[@]}" --sweep batch_size="$BATCHES" --precision bf16
phase seed-bf16 60 "${BENCH_CMD[@]}" --out "$WORK/bench/seed-bf16" --tasks imdb,ptb "${SEED_SET[@]}" --precision bf16
phase hidden-bf16 95 "${BENCH_CMD[@]}" --out "$WORK/bench/hidden-bf16" --tasks "$SWEEP_TASK" "${SWEEP_SET[@]}" --sweep hidden_size="$HIDDENS" --precision bf16
pack
say "done; records in $DEST/rows.tar.gz"
