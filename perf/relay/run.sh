#!/usr/bin/env bash
# End-to-end relay benchmark: Postfix vs the Engine, in the same run, both fsyncing.
#
# Each server receives MESSAGES messages of SIZE bytes from Postfix's smtp-source over SESSIONS
# parallel sessions, all to user@sink.test, and relays them to Postfix's smtp-sink on
# 127.0.0.1:SINK_PORT:
#   - Postfix with relay_domains = sink.test and a transport map line
#     "sink.test smtp:[127.0.0.1]:SINK_PORT" (/etc/postfix/transport);
#   - the Engine with engine.delivery.transport = { "sink.test" = "smtp:[127.0.0.1]:SINK_PORT" }
#     (it relays for clients in its mynetworks, 127.0.0.0/8 by default).
# The time runs from the start of the load until smtp-sink has received the last message. smtp-sink
# runs with -c and its running count is read from its output (not -M: see perf/README.md).
# Each server runs alone in its own cgroup, so the CPU of all its processes is counted; smtp-source
# and smtp-sink are not.
#
# Run by hand, as root (it installs and configures the system Postfix). See perf/README.md.
#
# Environment:
#   MESSAGES=20000  SESSIONS=20  SIZE=5120        the load (smtp-source -m, -s, -l)
#   WARMUP=20000                                  messages sent (and relayed) first to each server and
#                                                 not measured: the engine's tiered JIT needs them
#   POSTFIX_PORT=2825  SINK_PORT=2826  ENGINE_PORT=2827   loopback listener ports
#   ENGINE_ADMIN_PORT=2780                        the engine's admin API, read for its JIT time (/metrics)
#   DELIVERY_TIMEOUT=600                          seconds to wait for the sink to have everything after
#                                                 the load ended
#   SKIP_ENGINE=1                                 run only the Postfix half
#   SKIP_BUILD=1                                  use the existing Release build of the engine
#   ENGINE_DLL=path                               another engine.dll (default: the Release build)
#   SOURCE_OPTS="-d"                              extra smtp-source options (-d: many messages per
#                                                 connection; the default is one connection per message)
#   KEEP_POSTFIX_CONFIG=1                         leave /etc/postfix as this script configured it
#   ENGINE_SET="k=v;k=v"                          more engine settings (--set), to compare variants
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-20000}
WARMUP=${WARMUP:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
POSTFIX_PORT=${POSTFIX_PORT:-2825}
SINK_PORT=${SINK_PORT:-2826}
ENGINE_PORT=${ENGINE_PORT:-2827}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-600}
SKIP_ENGINE=${SKIP_ENGINE:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SOURCE_OPTS=${SOURCE_OPTS:-}
KEEP_POSTFIX_CONFIG=${KEEP_POSTFIX_CONFIG:-0}

DOMAIN=sink.test
SENDER=a@client.test
RECIPIENT=user@$DOMAIN
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}
TRANSPORT=/etc/postfix/transport   # Postfix's transport map (source; postmap makes transport.db)

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/relay-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-relay.XXXXXX)   # engine data dir, sink output, logs, config backup
ENGINE_DATA=$WORK/engine-data
ENGINE_PID=""
SOURCE_PID=""
SINK_PID=""
SINK_OUT=""
POSTFIX_STARTED=0
PURGE_POSTFIX_QUEUE=1   # stop_postfix first deletes the benchmark's mail still queued
TRANSPORT_TOUCHED=0
CGROUPS=()

mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"   # log, die, report, cgroups, ports, Postfix and engine start/stop

[[ $(id -u) -eq 0 ]] || die "run as root (installs and configures Postfix, creates cgroups)"
for v in MESSAGES WARMUP SESSIONS SIZE POSTFIX_PORT SINK_PORT ENGINE_PORT DELIVERY_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be an integer"
done
(( MESSAGES > 0 && SESSIONS > 0 )) || die "MESSAGES and SESSIONS must be positive"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
# start_sink NAME: a fresh smtp-sink on 127.0.0.1:SINK_PORT (one per server, so its count starts at
# 0), with -c: after each message (and each session end) it writes "sess=N quit=N mesg=N\r" to its
# stdout, flushed, which goes to SINK_OUT. -u nobody: it refuses to keep running as root.
start_sink() {
  SINK_OUT=$WORK/sink-$1.out
  "$SMTP_SINK" -c -u nobody "127.0.0.1:$SINK_PORT" 1024 > "$SINK_OUT" 2> "$WORK/sink-$1.err" &
  SINK_PID=$!
  wait_port "$SINK_PORT" 10 "$SINK_PID" \
    || { cat "$WORK/sink-$1.err" >&2; die "smtp-sink does not listen on 127.0.0.1:$SINK_PORT"; }
}

stop_sink() {
  [[ -n $SINK_PID ]] || return 0
  kill -TERM "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  SINK_PID=""
}

# sink_counts: "SESSIONS MESSAGES": the sessions smtp-sink has seen end and the messages it has received,
# from the last records of its -c output.
# The counters only grow, so the largest values in the tail are the latest; a record cut short at
# either end of the tail ("sg=12", or "mesg=1" of a "mesg=12" still being written) never exceeds them.
sink_counts() {
  { tail -c 512 "$SINK_OUT" 2>/dev/null || true; } | tr '\r' '\n' \
    | awk '{ for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[2] ~ /^[0-9]+$/) {
               if (kv[1] == "sess" && kv[2] + 0 > s) s = kv[2] + 0
               if (kv[1] == "mesg" && kv[2] + 0 > m) m = kv[2] + 0 } }
           END { print s + 0, m + 0 }'
}

# run_load PORT TAG COUNT TARGET: smtp-source sends COUNT messages to 127.0.0.1:PORT, then waits until
# smtp-sink has received TARGET messages in all (polled every 0.1 s, for at most DELIVERY_TIMEOUT
# seconds after the load ended). Sets SECS (start of the load to the last message at the sink),
# LOAD_SECS (start to the end of the load: every message accepted), TOTAL and SESS (the sink's
# message count, and its count of ended sessions, at the end). smtp-source runs in the background and is waited for, so a
# signal reaches the trap at once.
run_load() {
  local port=$1 tag=$2 count=$3 target=$4 t0 t_load t1 deadline
  send_load "$port" "$WORK/$tag.err" "$count"
  t0=$LOAD_T0 t_load=$LOAD_T1
  [[ ! -s $WORK/$tag.err ]] || { echo "smtp-source ($tag) said:" >&2; head -5 "$WORK/$tag.err" >&2; }
  # Poll only once the load has ended: no message can be relayed before it is accepted, so the end
  # time is the same, and the polling does not take CPU from the server while it receives.
  deadline=$((SECONDS + DELIVERY_TIMEOUT))
  while read -r SESS TOTAL < <(sink_counts); (( TOTAL < target )); do
    if ! kill -0 "$SINK_PID" 2>/dev/null; then
      echo "warning: $tag: smtp-sink is gone after $TOTAL of $target messages" >&2
      cat "$WORK"/sink-*.err >&2 2>/dev/null || true
      break
    fi
    if (( SECONDS >= deadline )); then
      echo "warning: $tag: smtp-sink has $TOTAL of $target messages after waiting ${DELIVERY_TIMEOUT}s" >&2
      break
    fi
    sleep 0.1
  done
  t1=$(now)
  SECS=$(elapsed "$t0" "$t1")
  LOAD_SECS=$(elapsed "$t0" "$t_load")
}

# measure NAME PORT CGROUP: warm-up, then the measured load; prints the table row.
measure() {
  local name=$1 port=$2 cg=$3 cpu0 cpu1 count rate cpu_ms sess0=0
  settle_caches
  if (( WARMUP > 0 )); then
    log "$name: warm-up, $WARMUP messages"
    run_load "$port" "$name-warmup" "$WARMUP" "$WARMUP"
    log "$name: warm-up relayed in ${SECS}s (accepted in ${LOAD_SECS}s), $SESS sink sessions"
    sess0=$SESS
  else
    read -r sess0 _ < <(sink_counts)
  fi
  log "$name: $MESSAGES messages"
  cpu0=$(cg_usage_us "$cg")
  [[ $name != engine ]] || jit_mark
  run_load "$port" "$name" "$MESSAGES" $((WARMUP + MESSAGES))
  cpu1=$(cg_usage_us "$cg")
  [[ $name != engine ]] || jit_mark "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"
  count=$(( TOTAL - WARMUP ))
  (( count == MESSAGES )) || echo "warning: $name relayed $count messages, expected $MESSAGES" >&2
  rate=$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  if [[ -n $cpu0 && -n $cpu1 ]] && (( count > 0 )); then
    cpu_ms=$(awk -v c="$((cpu1 - cpu0))" -v n="$count" 'BEGIN { printf "%.2f", c / 1000 / n }')
  else
    cpu_ms=n/a
  fi
  RATE[$name]=$rate
  report "$(printf '%-8s %9s %9s %9s %9s %12s %9s %11s' "$name" "$MESSAGES" "$count" "$SECS" "$rate" \
    "$cpu_ms" "$LOAD_SECS" "$((SESS - sess0))")"
}

# ---------------------------------------------------------------------------------------------
# Cleanup on exit: stop the load, both servers and the sink, remove what is left of the benchmark's
# mail from Postfix's queue, restore Postfix's config and transport map, remove the cgroups and the
# temp dir.
# ---------------------------------------------------------------------------------------------
# restore_transport: puts back the transport map as it was before (or removes the one we added).
restore_transport() {
  [[ $TRANSPORT_TOUCHED == 1 ]] || return 0
  rm -f "$TRANSPORT" "$TRANSPORT.db"
  [[ ! -e $WORK/transport.orig ]] || cp -p "$WORK/transport.orig" "$TRANSPORT"
  [[ ! -e $WORK/transport.orig.db ]] || cp -p "$WORK/transport.orig.db" "$TRANSPORT.db"
}

cleanup() {
  local rc=$?
  set +e
  stop_source
  stop_engine
  stop_postfix
  stop_sink
  restore_postfix_config restore_transport
  remove_cgroups
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Postfix: install if missing, stop the packaged instance, configure relaying to the sink.
# ---------------------------------------------------------------------------------------------
prepare_postfix "$SMTP_SINK" "$SINK_PORT"
[[ ! -e $TRANSPORT ]] || cp -p "$TRANSPORT" "$WORK/transport.orig"
[[ ! -e $TRANSPORT.db ]] || cp -p "$TRANSPORT.db" "$WORK/transport.orig.db"
TRANSPORT_TOUCHED=1
echo "$DOMAIN smtp:[127.0.0.1]:$SINK_PORT" > "$TRANSPORT"
postmap "hash:$TRANSPORT"

log "configuring postfix"
# Loopback only, no DNS, no rate limits, no TLS (smtpd nor smtp: the sink offers none, and the
# engine's client has none); queue-file fsync stays as shipped (always on).
# relay_domains = sink.test; the transport map sends it to the sink. default_transport and
# relay_transport = error: mail for any other domain (a bounce to client.test, say) fails at once
# and never leaves the machine.
postconf_base \
  'smtp_tls_security_level = none' \
  'default_transport = error' \
  'relay_transport = error' \
  "relay_domains = $DOMAIN" \
  "transport_maps = hash:$TRANSPORT"
# A plain smtpd listener (not chrooted); relaying is allowed for mynetworks and to relay_domains.
postconf -M "127.0.0.1:$POSTFIX_PORT/inet = 127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd"
postfix check || die "postfix check failed"

warn_if_queued incoming active deferred maildrop hold

# ---------------------------------------------------------------------------------------------
# Engine: build once, before anything is measured.
# ---------------------------------------------------------------------------------------------
build_engine

# ---------------------------------------------------------------------------------------------
# Report header
# ---------------------------------------------------------------------------------------------
report "relay benchmark, $(date -Is)"
report_host
report "load: smtp-source ${SOURCE_OPTS:+$SOURCE_OPTS }-s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RECIPIENT"
report "warm-up: $WARMUP messages to each server, relayed, before the measured run"
report "caches: written back and dropped before each server's warm-up (settle_caches in perf/lib.sh)"
report "relay: $DOMAIN -> smtp-sink -c on 127.0.0.1:$SINK_PORT (postfix transport_maps, engine engine.delivery.transport)"
report_fsync_cpu "smtp-source, not smtp-sink"
report ""
report "$(printf '%-8s %9s %9s %9s %9s %12s %9s %11s' server messages relayed seconds msg/s 'cpu ms/msg' \
  'accept s' 'sink sess')"

# ---------------------------------------------------------------------------------------------
# Run 1: Postfix
# ---------------------------------------------------------------------------------------------
log "starting smtp-sink and postfix"
start_sink postfix
start_postfix

measure postfix "$POSTFIX_PORT" "$PF_CG"
(( TOTAL >= WARMUP + MESSAGES )) || { echo "postfix queue (first lines):" >&2; postqueue -p 2>&1 | head -20 >&2; }

stop_postfix   # so the engine has the machine to itself (and purges what was not relayed)
stop_sink

# ---------------------------------------------------------------------------------------------
# Run 2: the Engine
# ---------------------------------------------------------------------------------------------
if [[ $SKIP_ENGINE != 1 ]]; then
  log "starting smtp-sink and the engine (data dir $ENGINE_DATA)"
  start_sink engine
  mkdir -p "$ENGINE_DATA"
  engine_args=(
    --set "engine.delivery.transport = { \"$DOMAIN\" = \"smtp:[127.0.0.1]:$SINK_PORT\" }"
    # Nothing else is routed anywhere, and the DNS "server" on the discard port never answers: a stray
    # MX lookup (a bounce to client.test, say) fails instead of leaving the machine.
    --set 'engine.delivery.dns-servers = ["127.0.0.1:9"]'
  )
  # ENGINE_SET="key=value;key=value": more engine settings, to compare variants in one script.
  IFS=';' read -r -a extra_settings <<< "${ENGINE_SET:-}"
  for kv in "${extra_settings[@]}"; do [[ -z $kv ]] || engine_args+=(--set "$kv"); done
  start_engine "${engine_args[@]}"

  measure engine "$ENGINE_PORT" "$EN_CG"
  (( TOTAL >= WARMUP + MESSAGES )) || { echo "engine log (last lines):" >&2; tail -20 "$WORK/engine.log" >&2; }

  stop_engine
  stop_sink
  report_ratio
  report_jit
fi

report ""
report "relayed: messages smtp-sink received (its -c count, less the warm-up); seconds: from the start"
report "of the load until smtp-sink has the last one (polled every 0.1 s once the load has ended);"
report "msg/s and cpu ms/msg per relayed message; accept s: until smtp-source had sent everything;"
report "sink sess: SMTP sessions to smtp-sink that ended during the measured run (it counts them at"
report "disconnect): about one per message without connection reuse"
log "report written to $REPORT"
