#!/usr/bin/env bash
# conformance.sh — run Redis 7.0's TCL units against one target and print a table.
#
# Usage: tools/conformance.sh redis|bocho [LOG_DIR]
#
# A thin wrapper around run-tcl-suite.sh (the shared runner; found through $TCL_TOOLS_DIR,
# default ../shared/tools next to this repo). It runs the EXTERNAL units with a fresh
# server per unit on $PORT, then the SPAWN units (the suite starts the target itself),
# one unit after another (the box has 2 shared cores), and prints one markdown table:
#   | unit | mode | passed | failed | ignored | seconds | note |
# The runner's own per-unit lines and logs are kept in LOG_DIR (default: a new mktemp dir).
#
# Environment:
#   TCL_TOOLS_DIR   folder holding run-tcl-suite.sh (default: <repo>/../shared/tools)
#   TCL_SUITE_DIR   unpacked Redis 7.0.15 tests (default /work/suite)
#   PORT            external-mode port (default 16701)
#   BOCHO_BIN       bocho-server executable (default <repo>/.venv/bin/bocho-server)
#   REDIS_BIN       real redis-server (default /usr/bin/redis-server)
#   SCOPE           core (issue 3's units, default), types (issue 4's), persist (issues 6
#                   and 7: RDB and AOF) or all
#   EXTERNAL_UNITS / SPAWN_UNITS  space-separated overrides of the unit lists below
#   (TCL_UNIT_TIMEOUT, TCL_STALL_TIMEOUT, TCL_EXTRA_ARGS pass through to the runner)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-}
case $TARGET in redis|bocho) ;; *) sed -n '2,4p' "$0"; exit 2 ;; esac
LOG_DIR=${2:-$(mktemp -d -t conformance.XXXXXX)}
mkdir -p "$LOG_DIR" && LOG_DIR=$(cd "$LOG_DIR" && pwd) || exit 2
TOOLS=${TCL_TOOLS_DIR:-$REPO/../shared/tools}
RUNNER=$TOOLS/run-tcl-suite.sh
[ -x "$RUNNER" ] || [ -f "$RUNNER" ] || { echo "no run-tcl-suite.sh in $TOOLS" >&2; exit 2; }
SUITE=${TCL_SUITE_DIR:-/work/suite}
PORT=${PORT:-16701}
BOCHO_BIN=${BOCHO_BIN:-$REPO/.venv/bin/bocho-server}
REDIS_BIN=${REDIS_BIN:-/usr/bin/redis-server}

# The units of each conformance issue (SCOPE=core: issue 3, the default; types: issue 4;
# all: both). External: one running server per unit. Spawn: units that need servers the
# suite configures and starts itself.
SCOPE=${SCOPE:-core}
CORE_EXTERNAL="unit/protocol unit/keyspace unit/scan unit/info-command
  unit/type/string unit/type/incr unit/expire unit/quit unit/introspection
  unit/introspection-2 unit/bitops unit/bitfield unit/lazyfree unit/pause unit/querybuf
  unit/slowlog unit/latency-monitor unit/replybufsize unit/violations"
CORE_SPAWN="unit/auth unit/info unit/limits unit/networking unit/maxmemory
  unit/obuf-limits unit/shutdown unit/pendingquerybuf unit/client-eviction"
TYPES_EXTERNAL="unit/type/list unit/type/list-2 unit/type/list-3 unit/type/hash unit/type/set
  unit/type/zset unit/type/stream unit/type/stream-cgroups unit/hyperloglog unit/geo unit/sort"
PERSIST_EXTERNAL="unit/dump unit/other"
PERSIST_SPAWN="integration/rdb integration/corrupt-dump integration/corrupt-dump-fuzzer
  integration/convert-zipmap-hash-on-load integration/convert-ziplist-hash-on-load
  integration/convert-ziplist-zset-on-load integration/aof integration/aof-multi-part
  unit/aofrw"
case $SCOPE in
    core) ext=$CORE_EXTERNAL spawn=$CORE_SPAWN ;;
    types) ext=$TYPES_EXTERNAL spawn="" ;;
    persist) ext=$PERSIST_EXTERNAL spawn=$PERSIST_SPAWN ;;
    all) ext="$CORE_EXTERNAL $TYPES_EXTERNAL $PERSIST_EXTERNAL"
         spawn="$CORE_SPAWN $PERSIST_SPAWN" ;;
    *) echo "SCOPE must be core, types, persist or all" >&2; exit 2 ;;
esac
EXTERNAL_UNITS=${EXTERNAL_UNITS-$ext}
SPAWN_UNITS=${SPAWN_UNITS-$spawn}

# Real Redis is started the way its own CI does (7.0 refuses DEBUG and protected CONFIG SET
# by default); bocho gets the same switches minus appendonly (its default is already no).
if [ "$TARGET" = redis ]; then
    server_cmd="$REDIS_BIN --port $PORT --save '' --appendonly no --enable-debug-command yes --enable-protected-configs yes"
    spawn_bin=$REDIS_BIN
else
    server_cmd="$BOCHO_BIN --port $PORT --save '' --enable-debug-command yes --enable-protected-configs yes"
    spawn_bin=$BOCHO_BIN
fi

out=$LOG_DIR/summary.txt
: >"$out"
echo "conformance: $TARGET, logs in $LOG_DIR, started $(date -u +%FT%TZ)" | tee -a "$out"
# shellcheck disable=SC2086  # unit lists are meant to split on whitespace
if [ -n "${EXTERNAL_UNITS// }" ]; then
    TCL_LOG_DIR=$LOG_DIR TCL_SERVER_CMD=$server_cmd \
        bash "$RUNNER" "$SUITE" 127.0.0.1 "$PORT" $EXTERNAL_UNITS | sed 's/^/external /' | tee -a "$out"
fi
# shellcheck disable=SC2086
if [ -n "${SPAWN_UNITS// }" ]; then
    TCL_LOG_DIR=$LOG_DIR TCL_SPAWN_SERVER=$spawn_bin \
        bash "$RUNNER" "$SUITE" --spawn $SPAWN_UNITS | sed 's/^/spawn /' | tee -a "$out"
fi
echo "finished $(date -u +%FT%TZ)" | tee -a "$out"

# The table: parse the runner's per-unit lines
#   "<mode> unit/x   passed N  failed N  skipped/ignored N  Ns  (note)".
echo
echo "| unit | mode | passed | failed | ignored | seconds | note |"
echo "|---|---|---:|---:|---:|---:|---|"
awk '$2 ~ /^(unit|integration)\// && $3 == "passed" {
        note = ""; if (match($0, /\(.*\)$/)) note = substr($0, RSTART + 1, RLENGTH - 2)
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", $2, $1, $4, $6, $8, $9, note
        p += $4; f += $6; s += $8 }
     $2 ~ /^(unit|integration)\// && $3 == "not" {
        printf "| %s | %s | - | - | - | - | %s |\n", $2, $1, substr($0, index($0, "not run")) }
     END { printf "| **total** | | **%d** | **%d** | %d | | |\n", p, f, s }' "$out"
