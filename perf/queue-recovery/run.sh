#!/usr/bin/env bash
# Queue recovery benchmark: one queue partition with MESSAGES deferred messages is killed (-9) and
# started again. Measures how long the partition takes to recover from its snapshot and journal, the
# memory the node holds afterwards, and that the retry timers are kept: no message is tried before its
# journaled next-attempt time, and the first retries come when they were due before the kill.
#
# How the deferred messages are made: the engine runs with engine.queue.partitions = 1 and a transport
# entry that sends dead.test to a loopback port where nothing listens, so every message is deferred
# (4.4.1) on its first attempt and waits BACKOFF seconds. smtp-source sends the load.
#
# There is no Postfix run: Postfix keeps no queue state in memory to recover (its qmgr rescans the
# deferred queue directory every queue_run_delay), so there is no like-for-like figure to divide by.
#
# Environment:
#   MESSAGES=100000  SESSIONS=20  SIZE=1024     the load (smtp-source -m, -s, -l)
#   BACKOFF=600                                 engine.queue.minimal-backoff, seconds; must be longer
#                                               than the load takes, so that no retry comes before the kill
#   ENGINE_PORT=2837  DEAD_PORT=2838            loopback ports (nothing may listen on DEAD_PORT)
#   WAIT_RETRY=1                                after the restart, wait for the first retry (up to
#                                               BACKOFF seconds) to show the timers fire when due
#   SKIP_BUILD=1                                use the existing Release build
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-100000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-1024}
BACKOFF=${BACKOFF:-600}
ENGINE_PORT=${ENGINE_PORT:-2837}
DEAD_PORT=${DEAD_PORT:-2838}
WAIT_RETRY=${WAIT_RETRY:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_ENGINE=0
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}
SESSIONS_LIMIT=$SESSIONS

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/queue-recovery-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-recovery.XXXXXX)
ENGINE_DATA=$WORK/engine-data
ENGINE_PID=""
SOURCE_PID=""
CGROUPS=()
mkdir -p "$OUT_DIR" "$ENGINE_DATA"

. "$(dirname "$0")/../lib.sh"

for v in MESSAGES SESSIONS SIZE BACKOFF ENGINE_PORT DEAD_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be an integer"
done
[[ -x $SMTP_SOURCE ]] || die "$SMTP_SOURCE is missing (Debian package postfix)"
! port_open "$DEAD_PORT" || die "something listens on 127.0.0.1:$DEAD_PORT"

cleanup() {
  local rc=$?
  set +e
  stop_source
  [[ -z $ENGINE_PID ]] || { kill -KILL "$ENGINE_PID" 2>/dev/null; wait "$ENGINE_PID" 2>/dev/null; }
  remove_cgroups
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_engine

engine_args=(
  --set "engine.queue.partitions = 1"
  --set "engine.queue.minimal-backoff = ${BACKOFF}s"
  --set "engine.queue.maximal-backoff = $((BACKOFF * 4))s"
  --set "engine.delivery.transport = { \"dead.test\" = \"smtp:[127.0.0.1]:$DEAD_PORT\" }"
  --set 'engine.delivery.dns-servers = ["127.0.0.1:9"]'
)

# count LOG PATTERN: lines of the engine's log that contain PATTERN.
count() { grep -c -F -- "$2" "$1" 2>/dev/null || true; }

report "queue recovery benchmark, $(date -Is)"
report "host: $(hostname), $(nproc) cpus, kernel $(uname -r)"
report "load: smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE -t user@dead.test; one partition; minimal-backoff ${BACKOFF}s"

log "engine: making $MESSAGES deferred messages"
start_engine "${engine_args[@]}"
t0=$(now)
"$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f a@client.test -t user@dead.test "127.0.0.1:$ENGINE_PORT" \
  > "$WORK/source.err" 2>&1 &
SOURCE_PID=$!
first_deferral=""
while :; do
  deferred=$(count "$WORK/engine.log" "status=deferred")
  [[ -n $first_deferral || $deferred -eq 0 ]] || first_deferral=$(now)
  (( deferred < MESSAGES )) || break
  kill -0 "$ENGINE_PID" 2>/dev/null || { tail -20 "$WORK/engine.log" >&2; die "the engine died"; }
  sleep 0.2
done
wait "$SOURCE_PID" || true
SOURCE_PID=""
t_load=$(now)
report "made: $deferred deferred in $(elapsed "$t0" "$t_load") s"
# The deferral events are written after the log line; give the journal a moment, then kill.
sleep 2
kill -KILL "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true; ENGINE_PID=""
t_kill=$(now)
db=$(du -sk "$ENGINE_DATA/engine.db"* 2>/dev/null | awk '{ s += $1 } END { print s }')
report "journal and snapshots: ${db} KB (engine.db with its WAL)"

log "engine: restart"
mv "$WORK/engine.log" "$WORK/engine-1.log"
t_start=$(now)
start_engine "${engine_args[@]}"
t_listen=$(now)
while ! grep -q "recovered [0-9]* messages" "$WORK/engine.log"; do
  kill -0 "$ENGINE_PID" 2>/dev/null || { tail -20 "$WORK/engine.log" >&2; die "the engine died"; }
  sleep 0.05
done
t_recovered=$(now)
recovered=$(grep -o "recovered [0-9]* messages" "$WORK/engine.log" | head -1 | awk '{ print $2 }')
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$ENGINE_PID/status")
report "recovered: $recovered messages; process start to listening $(elapsed "$t_start" "$t_listen") s,"
report "  to the partition's \"recovered\" line $(elapsed "$t_start" "$t_recovered") s; node RSS after recovery $((rss / 1024)) MB"

# Timers kept: nothing may be tried before its time (the first deferral + BACKOFF).
due=$(awk -v f="$first_deferral" -v b="$BACKOFF" 'BEGIN { printf "%.3f", f + b }')
report "first deferral before the kill at +0 s; retries due from +$BACKOFF s; kill at +$(elapsed "$first_deferral" "$t_kill") s"
if [[ $WAIT_RETRY == 1 ]]; then
  log "waiting for the first retry (due in $(elapsed "$(now)" "$due") s)"
  while (( $(count "$WORK/engine.log" "status=deferred") == 0 )); do
    kill -0 "$ENGINE_PID" 2>/dev/null || die "the engine died"
    (( $(awk -v n="$(now)" -v d="$due" 'BEGIN { print (n > d + 60) }') )) && break
    sleep 0.2
  done
  t_retry=$(now)
  report "first retry after the restart at +$(elapsed "$first_deferral" "$t_retry") s (due at +$BACKOFF s)"
  sleep 5
  report "retries in its first 5 s: $(count "$WORK/engine.log" "status=deferred")"
else
  sleep 10
  report "retries in the 10 s after recovery (none are due): $(count "$WORK/engine.log" "status=deferred")"
fi
log "report written to $REPORT"
