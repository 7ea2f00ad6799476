#!/usr/bin/env bash
# The headline results (#17): every seed configuration at full scale, one resumable matrix each.
# Run from the repository root; re-running continues where it stopped (`--resume`), so it carries
# across sessions. Records go to results/runs/; `python -m harness report` builds the overview.
#   RNNBENCH_DATA_DIR=../shared/data experiments/full-scale.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ALL=torch,keras,keras-jax,keras-torch,jax,mxnet
FOUR=torch,keras,jax,mxnet
m() {  # m NAME TASKS SCALE BACKENDS REPEATS
    python -m harness matrix --tasks "$2" --scale "$3" --backends "$4" --repeats "$5" \
        --out results/runs --manifest "results/runs/matrix-$1.json" --resume --no-report
}
m five-words-rnn five-words rnn "$ALL" 1
m five-words-lstm five-words lstm "$ALL" 1
m arithmetic-full arithmetic full "$ALL" 1
m lyrics-full lyrics full "$ALL" 1
m names-full names full "$ALL" 3
m meditations-full meditations full "$ALL" 1
m charlm-full timemachine,tinyshakespeare full "$FOUR" 1
m imdb-full imdb full torch,mxnet,jax,keras,keras-jax 3
m imdb-seed imdb seed "$ALL" 1
m imdb-full-keras-torch imdb full keras-torch 3
m ptb-full ptb full "$FOUR" 1
