#!/usr/bin/env bash
# The GPU check as a machine with one NVIDIA GPU runs it: `benchmarks/gpu_check.sh [DEST] [doctor options]`.
#
# Needs CUDA builds of the frameworks in one Python ($PYTHON, default python3), no network and no tox:
# `python -m harness doctor --device gpu` (README, "The GPU check"), at most $BUDGET_S seconds (480).
# DEST (default $OUT/doctor-gpu where $OUT is set, else results/gpu-check) gets five files, for machines
# that hand back only a few: doctor.tar.gz (every record), summary.txt (the table), summary.json,
# environment.json and doctor.log (the doctor's output). The exit status is the doctor's: 0 all ran
# steps passed, 1 a step failed, 2 no GPU or bad options.
set -uo pipefail
cd "$(dirname "$0")/.."

DEST="${OUT:+$OUT/doctor-gpu}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then DEST="$1"; shift; fi
DEST="${DEST:-results/gpu-check}"
PY="${PYTHON:-python3}"

# a dataset mirror travels inside the checkout (shared/data) or beside it; tasks without one say "no data"
if [ -z "${RNNBENCH_DATA_DIR:-}" ]; then
    for d in shared/data ../shared/data .data; do
        if [ -d "$d" ]; then export RNNBENCH_DATA_DIR="$(cd "$d" && pwd)"; break; fi
    done
fi
export RNNBENCH_CACHE_DIR="${RNNBENCH_CACHE_DIR:-${TMPDIR:-/tmp}/rnnbench-cache}"
export PYTHONUNBUFFERED=1

mkdir -p "$DEST"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rnnbench-doctor.XXXXXX")"
"$PY" -m harness doctor --device gpu --out "$WORK/doctor" --budget-s "${BUDGET_S:-480}" "$@" 2>&1 \
    | tee "$DEST/doctor.log"
status=${PIPESTATUS[0]}
for f in summary.txt summary.json environment.json; do
    [ -f "$WORK/doctor/$f" ] && cp "$WORK/doctor/$f" "$DEST/"
done
[ -d "$WORK/doctor" ] && tar -czf "$DEST/doctor.tar.gz" -C "$WORK" doctor
echo "gpu_check: exit $status; records in $DEST (doctor.tar.gz: all of them)"
exit "$status"
