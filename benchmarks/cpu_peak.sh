#!/usr/bin/env bash
# The CPU's matrix-multiply peak, measured through every framework: `benchmarks/cpu_peak.sh [DEST]`.
#
# benchmarks/gemm_peak.py in each backend's tox environment (torch; keras: TensorFlow, JAX and PyTorch;
# jax; mxnet), one record each in DEST (default results/peak), named by the machine's fingerprint and the
# environment. The report takes each library's newest figure and the best of them as the machine's peak
# (harness/bench/peak.py): one framework's GEMM can understate the hardware by half. On an otherwise idle
# machine, as any speed figure.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-results/peak}"
mkdir -p "$DEST"
stamp="$(date -u +%Y%m%dT%H%M%S)"
for env in torch keras jax mxnet; do
    py="$(python -c "from harness import launcher; print(launcher.tox_python('$env', quiet=True))")"
    "$py" benchmarks/gemm_peak.py --device cpu --out "$DEST/cpu-$env-$stamp.json"
done
