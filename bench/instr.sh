#!/usr/bin/env bash
# Instructions per request of the request path (bench/micro.py under callgrind), which
# stay put on a loaded machine where timings don't: two runs of different length, the
# difference divided by the extra requests. Run with the tree's PYTHONPATH (and
# BOCHO_PURE=1 for the Python path).
# Usage: bench/instr.sh [test] [pipeline]     e.g. bench/instr.sh get 16
set -euo pipefail
test=${1:-get}
p=${2:-1}
py=${PYTHON:-python3}
here=$(dirname "$0")
count() {
    local out
    out=$(mktemp)
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$py" "$here/micro.py" --tests "$test" --pipelines "$p" --loops "$1" --clients 1 \
        >/dev/null 2>&1
    grep -m1 '^summary:' "$out" | awk '{print $2}'
    rm -f "$out"
}
# 16000 requests between the two runs whatever the pipeline depth
a=$(count $(( 3200 / p )))
b=$(count $(( 19200 / p )))
echo "$test -P $p: $(( (b - a) / 16000 )) instructions/request"
