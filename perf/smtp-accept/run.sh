#!/usr/bin/env bash
# SMTP acceptance benchmark: Postfix vs the Engine, in the same run, both fsyncing.
#
# Each server receives MESSAGES messages of SIZE bytes from Postfix's smtp-source over SESSIONS
# parallel sessions and keeps them on stable storage without delivering them:
#   - Postfix through an accept-and-hold smtpd listener (every message goes to the hold queue);
#   - the Engine with its default configuration (localhost is one of its local domains).
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

log()    { echo "== $*" >&2; }
die()    { echo "error: $*" >&2; exit 1; }
report() { echo "$*" | tee -a "$REPORT"; }   # lines that belong in the result file

[[ $(id -u) -eq 0 ]] || die "run as root (installs and configures Postfix, creates cgroups)"
[[ $MESSAGES =~ ^[0-9]+$ && $SESSIONS =~ ^[0-9]+$ && $SIZE =~ ^[0-9]+$ ]] \
  || die "MESSAGES, SESSIONS and SIZE must be integers"

# ---------------------------------------------------------------------------------------------
# cgroups: one per server, to read the CPU time of all its processes (including Postfix's
# short-lived children, which /usr/bin/time on `postfix start` would not see).
# Pure cgroup v2 (/sys/fs/cgroup) or the v2 hierarchy of a hybrid setup (/sys/fs/cgroup/unified):
# cpu.stat usage_usec. Plain cgroup v1: cpuacct.usage (ns). If none is writable, CPU is "n/a".
# ---------------------------------------------------------------------------------------------
CG_BASE="" CG_KIND=""
if [[ -f /sys/fs/cgroup/cgroup.controllers && -w /sys/fs/cgroup ]]; then
  CG_BASE=/sys/fs/cgroup CG_KIND=v2
elif [[ -f /sys/fs/cgroup/unified/cgroup.controllers && -w /sys/fs/cgroup/unified ]]; then
  CG_BASE=/sys/fs/cgroup/unified CG_KIND=v2
elif [[ -f /sys/fs/cgroup/cpuacct/cpuacct.usage && -w /sys/fs/cgroup/cpuacct ]]; then
  CG_BASE=/sys/fs/cgroup/cpuacct CG_KIND=v1
fi

# cg_create NAME: creates (or reuses) the cgroup and sets CG to its directory ("" if it can't).
cg_create() {
  CG=""
  [[ -n $CG_BASE ]] || return 0
  local dir=$CG_BASE/$1
  if mkdir -p "$dir" 2>/dev/null && [[ -w $dir/cgroup.procs ]]; then
    CGROUPS+=("$dir")
    CG=$dir
  fi
}

# cg_usage_us DIR: CPU time used so far by the cgroup, in microseconds ("" if unknown).
cg_usage_us() {
  local dir=$1
  [[ -n $dir ]] || return 0
  if [[ $CG_KIND == v2 ]]; then
    awk '$1 == "usage_usec" { print $2 }' "$dir/cpu.stat" 2>/dev/null || true
  else
    awk '{ printf "%d\n", $1 / 1000 }' "$dir/cpuacct.usage" 2>/dev/null || true
  fi
}

# in_cgroup DIR CMD...: runs CMD (exec, same pid) after moving this subshell into the cgroup.
# Only the subshell moves, never the script itself, so smtp-source is not counted.
in_cgroup() {
  local dir=$1; shift
  [[ -z $dir ]] || echo "$BASHPID" > "$dir/cgroup.procs" 2>/dev/null || echo "warning: could not join $dir" >&2
  exec "$@"
}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT SECONDS [PID]: until PORT accepts connections; fails early if PID dies.
wait_port() {
  local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
  until port_open "$port"; do
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
    (( SECONDS < deadline )) || return 1
    sleep 0.2
  done
}

now() { date +%s.%N; }

# run_load PORT ERRFILE [COUNT]: runs smtp-source against 127.0.0.1:PORT, sets SECS to the elapsed seconds.
# smtp-source runs in the background and is waited for, so a signal reaches the trap at once.
run_load() {
  local port=$1 err=$2 count=${3:-$MESSAGES} t0 t1 rc=0
  sync   # start from clean page cache writeback, so one server does not pay for the other's
  t0=$(now)
  # shellcheck disable=SC2086  # SOURCE_OPTS is a list of options
  "$SMTP_SOURCE" $SOURCE_OPTS -s "$SESSIONS" -m "$count" -l "$SIZE" \
    -f "$SENDER" -t "$RECIPIENT" "127.0.0.1:$port" > "$err" 2>&1 &
  SOURCE_PID=$!
  wait "$SOURCE_PID" || rc=$?
  t1=$(now)
  SOURCE_PID=""
  (( rc == 0 )) || echo "warning: smtp-source exited $rc" >&2
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# result NAME COUNT SECONDS CPU_US: one table row, and remembers msg/s for the ratio.
declare -A RATE
result() {
  local name=$1 count=$2 secs=$3 cpu=$4 rate cpu_ms
  rate=$(awk -v n="$MESSAGES" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  if [[ -n $cpu ]]; then
    cpu_ms=$(awk -v c="$cpu" -v n="$MESSAGES" 'BEGIN { printf "%.2f", c / 1000 / n }')
  else
    cpu_ms=n/a
  fi
  RATE[$name]=$rate
  report "$(printf '%-8s %9s %9s %9s %9s %12s' "$name" "$MESSAGES" "$count" "$secs" "$rate" "$cpu_ms")"
}

# ---------------------------------------------------------------------------------------------
# Cleanup on exit: stop both servers, empty the hold queue, restore Postfix's config, remove
# the cgroups and the temp dir.
# ---------------------------------------------------------------------------------------------
stop_engine() {
  [[ -n $ENGINE_PID ]] || return 0
  if kill -0 "$ENGINE_PID" 2>/dev/null; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
  fi
  wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=""
}

stop_postfix() {
  [[ $POSTFIX_STARTED == 1 ]] || return 0
  postfix stop >/dev/null 2>&1 || true
  # The master waits for its children; give them a moment to leave the cgroup.
  for _ in $(seq 1 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
  POSTFIX_STARTED=0
}

cleanup() {
  local rc=$?
  set +e
  [[ -z $SOURCE_PID ]] || { kill "$SOURCE_PID" 2>/dev/null; wait "$SOURCE_PID" 2>/dev/null; }
  stop_engine
  stop_postfix
  if command -v postsuper >/dev/null; then postsuper -d ALL hold >/dev/null 2>&1; fi
  if [[ $KEEP_POSTFIX_CONFIG != 1 && -f $WORK/main.cf ]]; then
    cp "$WORK/main.cf" /etc/postfix/main.cf
    cp "$WORK/master.cf" /etc/postfix/master.cf
  fi
  for dir in "${CGROUPS[@]}"; do
    for _ in $(seq 1 25); do rmdir "$dir" 2>/dev/null && break; sleep 0.2; done
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Postfix: install if missing, stop the packaged instance, configure an accept-and-hold listener.
# ---------------------------------------------------------------------------------------------
if [[ ! -x $SMTP_SOURCE ]] || ! command -v postfix >/dev/null; then
  log "installing postfix"
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >"$WORK/apt.log" 2>&1; then
    apt-get update >>"$WORK/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >>"$WORK/apt.log" 2>&1 \
      || { tail -20 "$WORK/apt.log" >&2; die "could not install postfix"; }
  fi
fi

# The post-install (or anyone else) may have started it on port 25: our instance starts in our cgroup.
if postfix status >/dev/null 2>&1; then
  log "stopping the running postfix"
  postfix stop >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
fi

port_open "$POSTFIX_PORT" && die "127.0.0.1:$POSTFIX_PORT is already in use"
[[ $SKIP_ENGINE == 1 ]] || ! port_open "$ENGINE_PORT" || die "127.0.0.1:$ENGINE_PORT is already in use"

cp /etc/postfix/main.cf /etc/postfix/master.cf "$WORK/"   # restored on exit

log "configuring postfix"
# Loopback only, no DNS, no rate limits, no TLS; queue-file fsync stays as shipped (always on).
postconf -e \
  'inet_interfaces = loopback-only' \
  'mynetworks = 127.0.0.0/8' \
  'smtpd_peername_lookup = no' \
  'disable_dns_lookups = yes' \
  'smtp_dns_support_level = disabled' \
  'smtpd_client_connection_count_limit = 0' \
  'smtpd_client_connection_rate_limit = 0' \
  'smtpd_client_message_rate_limit = 0' \
  'default_process_limit = 300' \
  'smtpd_tls_security_level = none'
# The accept-and-hold listener (not chrooted). localhost stays in mydestination, as for the engine;
# smtpd_reject_unlisted_recipient=no accepts any local part there (like the engine) instead of
# looking `user` up in the passwd/alias tables. HOLD keeps every message in the hold queue.
postconf -M "127.0.0.1:$POSTFIX_PORT/inet = 127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd \
-o smtpd_client_restrictions=check_client_access,static:HOLD \
-o smtpd_reject_unlisted_recipient=no"
postfix check || die "postfix check failed"

QUEUE_DIR=$(postconf -h queue_directory)
hold_count() { find "$QUEUE_DIR/hold" -type f 2>/dev/null | wc -l; }
postsuper -d ALL hold >/dev/null 2>&1 || true
other=$(find "$QUEUE_DIR"/{incoming,active,deferred,maildrop} -type f 2>/dev/null | wc -l)
(( other == 0 )) || echo "warning: $other messages in Postfix's other queues; its qmgr may be busy" >&2

# ---------------------------------------------------------------------------------------------
# Engine: build once, before anything is measured.
# ---------------------------------------------------------------------------------------------
if [[ $SKIP_ENGINE != 1 && $SKIP_BUILD != 1 ]]; then
  log "building the engine (Release)"
  dotnet build -c Release "$REPO/src/Engine.Host" > "$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log" >&2; die "engine build failed"; }
fi
[[ $SKIP_ENGINE == 1 || -f $ENGINE_DLL ]] || die "$ENGINE_DLL not found"

# ---------------------------------------------------------------------------------------------
# Report header
# ---------------------------------------------------------------------------------------------
report "smtp-accept benchmark, $(date -Is)"
report "host: $(hostname), $(nproc) cpus, kernel $(uname -r), postfix $(postconf -h mail_version)"
report "load: smtp-source ${SOURCE_OPTS:+$SOURCE_OPTS }-s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RECIPIENT"
report "warm-up: $WARMUP messages to each server before the measured run"
report "fsync: postfix as shipped (on), engine engine.storage.fsync=on"
if [[ -n $CG_BASE ]]; then
  report "cpu: server processes only (not smtp-source), cgroup $CG_KIND under $CG_BASE"
else
  report "cpu: n/a (no writable cgroup)"
fi
report ""
report "$(printf '%-8s %9s %9s %9s %9s %12s' server messages stored seconds msg/s 'cpu ms/msg')"

# ---------------------------------------------------------------------------------------------
# Run 1: Postfix
# ---------------------------------------------------------------------------------------------
log "starting postfix"
cg_create engine-perf-postfix; PF_CG=$CG
[[ -x /usr/lib/postfix/configure-instance.sh ]] && /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true
( in_cgroup "$PF_CG" postfix start ) >/dev/null 2>&1 || die "postfix start failed"
POSTFIX_STARTED=1
wait_port "$POSTFIX_PORT" 30 || die "postfix does not listen on 127.0.0.1:$POSTFIX_PORT"

if (( WARMUP > 0 )); then log "postfix: warm-up, $WARMUP messages"; run_load "$POSTFIX_PORT" "$WORK/postfix-warmup.err" "$WARMUP"; fi
log "postfix: $MESSAGES messages"
cpu0=$(cg_usage_us "$PF_CG")
run_load "$POSTFIX_PORT" "$WORK/postfix-source.err"
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
  cg_create engine-perf-engine; EN_CG=$CG
  engine_args=(
    --set "engine.data-dir=\"$ENGINE_DATA\""
    --set "engine.smtp.listen=[\"127.0.0.1:$ENGINE_PORT\"]"
    --set "engine.storage.fsync=on"
  )
  # Postfix runs without a per-client connection limit; the engine's default is 50.
  (( SESSIONS <= 50 )) || engine_args+=(--set "engine.smtp.max-connections-per-ip=$SESSIONS")
  ( cd "$REPO" && in_cgroup "$EN_CG" dotnet "$ENGINE_DLL" "${engine_args[@]}" ) > "$WORK/engine.log" 2>&1 &
  ENGINE_PID=$!
  wait_port "$ENGINE_PORT" 60 "$ENGINE_PID" \
    || { tail -30 "$WORK/engine.log" >&2; die "the engine does not listen on 127.0.0.1:$ENGINE_PORT"; }

  if (( WARMUP > 0 )); then log "engine: warm-up, $WARMUP messages"; run_load "$ENGINE_PORT" "$WORK/engine-warmup.err" "$WARMUP"; fi
  log "engine: $MESSAGES messages"
  cpu0=$(cg_usage_us "$EN_CG")
  run_load "$ENGINE_PORT" "$WORK/engine-source.err"
  cpu1=$(cg_usage_us "$EN_CG")
  count=$(( $(find "$ENGINE_DATA/spool" -type f 2>/dev/null | wc -l) - WARMUP ))
  [[ -s $WORK/engine-source.err ]] && { echo "smtp-source (engine) said:" >&2; head -5 "$WORK/engine-source.err" >&2; }
  (( count == MESSAGES )) || echo "warning: engine spool has $count files, expected $MESSAGES" >&2
  result engine "$count" "$SECS" "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"

  stop_engine
  report ""
  report "engine/postfix msg/s: $(awk -v e="${RATE[engine]}" -v p="${RATE[postfix]}" \
    'BEGIN { printf "%.2f", (p > 0 ? e / p : 0) }')"
fi

report ""
report "stored: postfix = files in its hold queue; engine = files under its data dir's spool (less the warm-up)"
log "report written to $REPORT"
