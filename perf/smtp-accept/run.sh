#!/usr/bin/env bash
# SMTP acceptance benchmark: Postfix vs the Engine, in the same run, both fsyncing.
#
# Each server receives MESSAGES messages of SIZE bytes from Postfix's smtp-source over SESSIONS
# parallel sessions and keeps them on stable storage without delivering them:
#   - Postfix through an accept-and-hold smtpd listener (every message goes to the hold queue);
#   - the Engine with the same access rule, check_client_access on a cidr table "127.0.0.0/8 HOLD",
#     so every message goes to its hold queue (localhost is one of its local domains).
# Each server runs alone in its own cgroup, so the CPU of all its processes is counted.
#
# Run by hand, as root (it installs and configures the system Postfix). See perf/README.md.
#
# Environment:
#   MESSAGES=20000  SESSIONS=20  SIZE=5120        the load (smtp-source -m, -s, -l)
#   WARMUP=20000                                  messages sent first to each server and not measured:
#                                                 the engine's JIT needs this many to reach its steady
#                                                 state (tiered compilation); Postfix gets the same
#   POSTFIX_PORT=2625  ENGINE_PORT=2626           loopback listener ports
#   ENGINE_ADMIN_PORT=2780                        the engine's admin API, read for its JIT time (/metrics)
#   SKIP_ENGINE=1                                 run only the Postfix half
#   SKIP_BUILD=1                                  use the existing Release build of the engine
#   ENGINE_DLL=path                               another engine.dll (default: the Release build)
#   SOURCE_OPTS="-d"                              extra smtp-source options (-d: many messages per
#                                                 connection; the default is one connection per message)
#   KEEP_POSTFIX_CONFIG=1                         leave /etc/postfix as this script configured it
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-20000}
WARMUP=${WARMUP:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
POSTFIX_PORT=${POSTFIX_PORT:-2625}
ENGINE_PORT=${ENGINE_PORT:-2626}
SKIP_ENGINE=${SKIP_ENGINE:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SOURCE_OPTS=${SOURCE_OPTS:-}
KEEP_POSTFIX_CONFIG=${KEEP_POSTFIX_CONFIG:-0}

SENDER=a@client.test
RECIPIENT=user@localhost
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/smtp-accept-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-smtp-accept.XXXXXX)   # engine data dir, logs, config backup
ENGINE_DATA=$WORK/data
ENGINE_PID=""
SOURCE_PID=""
POSTFIX_STARTED=0
CGROUPS=()

mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"   # log, die, report, cgroups, ports, Postfix and engine start/stop

[[ $(id -u) -eq 0 ]] || die "run as root (installs and configures Postfix, creates cgroups)"
[[ $MESSAGES =~ ^[0-9]+$ && $SESSIONS =~ ^[0-9]+$ && $SIZE =~ ^[0-9]+$ ]] \
  || die "MESSAGES, SESSIONS and SIZE must be integers"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
# send_load and result are in lib.sh.

# ---------------------------------------------------------------------------------------------
# Cleanup on exit: stop both servers, empty the hold queue, restore Postfix's config, remove
# the cgroups and the temp dir.
# ---------------------------------------------------------------------------------------------
cleanup() {
  local rc=$?
  set +e
  stop_source
  stop_engine
  stop_postfix
  if command -v postsuper >/dev/null; then postsuper -d ALL hold >/dev/null 2>&1; fi
  restore_postfix_config
  remove_cgroups
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Postfix: install if missing, stop the packaged instance, configure an accept-and-hold listener.
# ---------------------------------------------------------------------------------------------
prepare_postfix

log "configuring postfix"
# Loopback only, no DNS, no rate limits, no TLS; queue-file fsync stays as shipped (always on).
postconf_base
# The accept-and-hold listener (not chrooted). localhost stays in mydestination, as for the engine;
# smtpd_reject_unlisted_recipient=no accepts any local part there (like the engine) instead of
# looking `user` up in the passwd/alias tables. HOLD keeps every message in the hold queue.
postconf -M "127.0.0.1:$POSTFIX_PORT/inet = 127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd \
-o smtpd_client_restrictions=check_client_access,static:HOLD \
-o smtpd_reject_unlisted_recipient=no"
postfix check || die "postfix check failed"

postsuper -d ALL hold >/dev/null 2>&1 || true
warn_if_queued incoming active deferred maildrop
hold_count() { find "$QUEUE_DIR/hold" -type f 2>/dev/null | wc -l; }

# ---------------------------------------------------------------------------------------------
# Engine: build once, before anything is measured.
# ---------------------------------------------------------------------------------------------
build_engine

# ---------------------------------------------------------------------------------------------
# Report header
# ---------------------------------------------------------------------------------------------
report "smtp-accept benchmark, $(date -Is)"
report_host
report "load: smtp-source ${SOURCE_OPTS:+$SOURCE_OPTS }-s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RECIPIENT"
report "warm-up: $WARMUP messages to each server before the measured run"
report "caches: written back and dropped before each server's warm-up (settle_caches in perf/lib.sh)"
report_fsync_cpu
report ""
report "$(printf '%-8s %9s %9s %9s %9s %12s' server messages stored seconds msg/s 'cpu ms/msg')"

# ---------------------------------------------------------------------------------------------
# Run 1: Postfix
# ---------------------------------------------------------------------------------------------
log "starting postfix"
start_postfix

settle_caches
if (( WARMUP > 0 )); then log "postfix: warm-up, $WARMUP messages"; send_load "$POSTFIX_PORT" "$WORK/postfix-warmup.err" "$WARMUP"; fi
log "postfix: $MESSAGES messages"
cpu0=$(cg_usage_us "$PF_CG")
send_load "$POSTFIX_PORT" "$WORK/postfix-source.err"
cpu1=$(cg_usage_us "$PF_CG")
count=$(( $(hold_count) - WARMUP ))
[[ -s $WORK/postfix-source.err ]] && { echo "smtp-source (postfix) said:" >&2; head -5 "$WORK/postfix-source.err" >&2; }
(( count == MESSAGES )) || echo "warning: postfix hold queue has $count messages, expected $MESSAGES" >&2
result postfix "$count" "$SECS" "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"

stop_postfix   # so the engine has the machine to itself
postsuper -d ALL hold >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------
# Run 2: the Engine
# ---------------------------------------------------------------------------------------------
if [[ $SKIP_ENGINE != 1 ]]; then
  log "starting the engine (data dir $ENGINE_DATA)"
  mkdir -p "$ENGINE_DATA"
  # The same rule as Postfix's listener: every client's mail is held, none is delivered.
  echo "127.0.0.0/8 HOLD" > "$WORK/hold.cidr"
  # As Postfix's smtpd_reject_unlisted_recipient=no: any local part of localhost is accepted.
  start_engine --set "engine.smtp.restrictions.client=[\"check_client_access cidr:$WORK/hold.cidr\"]" \
    --set 'engine.smtp.local-recipients=["*"]'

  settle_caches
  if (( WARMUP > 0 )); then log "engine: warm-up, $WARMUP messages"; send_load "$ENGINE_PORT" "$WORK/engine-warmup.err" "$WARMUP"; fi
  log "engine: $MESSAGES messages"
  cpu0=$(cg_usage_us "$EN_CG")
  jit_mark
  send_load "$ENGINE_PORT" "$WORK/engine-source.err"
  cpu1=$(cg_usage_us "$EN_CG")
  jit_mark "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"
  # The queue logs "<id>: held: ..." once it has the message (bodies share spool segments, so files say nothing).
  # The log is written a moment after the fact: up to 5 s for the last lines.
  for _ in $(seq 50); do
    count=$(( $(grep -c ': held: ' "$WORK/engine.log") - WARMUP ))
    (( count >= MESSAGES )) && break; sleep 0.1
  done
  [[ -s $WORK/engine-source.err ]] && { echo "smtp-source (engine) said:" >&2; head -5 "$WORK/engine-source.err" >&2; }
  (( count == MESSAGES )) || echo "warning: engine queue held $count messages, expected $MESSAGES" >&2
  result engine "$count" "$SECS" "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"

  stop_engine
  report_ratio
  report_jit
fi

report ""
report "stored: postfix = files in its hold queue; engine = messages its queue logged as held (less the warm-up)"
log "report written to $REPORT"
