#!/usr/bin/env bash
# IMAP benchmark: the Engine vs Dovecot, in the same run, on the same Maildir data.
#
# The engine receives MESSAGES messages of SIZE bytes for each of USERS users over SMTP (Postfix's
# smtp-source) and delivers them into DATA/mail/local.test/userN. Then, against the engine and then against
# Dovecot reading those same Maildirs:
#   1. the command mix of perf/imap/load.py: CLIENTS logged-in clients, each looping SELECT, FETCH of ten
#      messages' headers, FETCH of a whole message, STORE +FLAGS/-FLAGS \Seen, SEARCH UNSEEN, IDLE/DONE,
#      for SECONDS (after WARMUP seconds of the same, not measured): commands/s, p50 and p99 latency;
#   2. IDLE_CONNECTIONS sessions logged in, INBOX selected, in IDLE, held HOLD seconds: the servers' resident
#      memory (all their processes) before and after, per connection. Dovecot runs with
#      imap_hibernate_timeout = 5s, so its idle sessions move into imap-hibernate (the fair comparison).
# Each server runs alone, in its own cgroup (CPU time of all its processes). Dovecot's login processes run
# in its "high-performance" mode (service_count = 0) unless DOVECOT_LOGIN=security.
#
# Run by hand, as root. See perf/README.md.
#
# Environment:
#   USERS=50  MESSAGES=200  SIZE=4096      the data: messages per user, bytes each
#   CLIENTS=50  MIX_SECONDS=30  WARMUP=10  the command mix
#   IDLE_CONNECTIONS=5000  HOLD=15         the idle-memory test (HOLD: seconds after all are in IDLE)
#   ENGINE_SMTP=2726  ENGINE_IMAP=2743  DOVECOT_IMAP=2744
#   DOVECOT_LOGIN=performance|security   SKIP_BUILD=1   ENGINE_DLL=path
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
USERS=${USERS:-50}
MESSAGES=${MESSAGES:-200}
SIZE=${SIZE:-4096}
CLIENTS=${CLIENTS:-50}
SECONDS_MIX=${MIX_SECONDS:-30}
WARMUP=${WARMUP:-10}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-5000}
HOLD=${HOLD:-15}
ENGINE_PORT=${ENGINE_SMTP:-2726}
ENGINE_IMAP=${ENGINE_IMAP:-2743}
DOVECOT_IMAP=${DOVECOT_IMAP:-2744}
DOVECOT_LOGIN=${DOVECOT_LOGIN:-performance}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_ENGINE=0
SESSIONS=1
PASSWORD=bench-pass
DOMAIN=local.test
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/imap-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-imap.XXXXXX)
ENGINE_DATA=$WORK/engine-data
ENGINE_PID=""
DOVECOT_PID=""
POSTFIX_STARTED=0
CGROUPS=()
mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"

prepare_dovecot
ulimit -n "$(ulimit -Hn)"   # 2 descriptors per connection (client and server) must fit
sysctl -qw fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1000000 || true

trap cleanup_imap EXIT
trap 'exit 130' INT TERM

# rss_kib CGROUP: the resident memory of every process in the cgroup, in KiB.
rss_kib() {
  local total=0 pid kib
  for pid in $(cat "$1/cgroup.procs" 2>/dev/null); do
    kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

# bench NAME PORT CGROUP: the mix (warm-up, then measured) and the idle memory; one report row.
bench() {
  local name=$1 port=$2 cg=$3 cpu0 cpu1 json rate p50 p99 before after per cpu_ms holder
  log "$name: warm-up ${WARMUP}s"
  python3 "$REPO/perf/imap/load.py" mix "$port" "$USERS" "$CLIENTS" "$WARMUP" "$PASSWORD" > "$WORK/$name-warmup.json"
  log "$name: command mix, $CLIENTS clients, ${SECONDS_MIX}s"
  cpu0=$(cg_usage_us "$cg")
  json=$(python3 "$REPO/perf/imap/load.py" mix "$port" "$USERS" "$CLIENTS" "$SECONDS_MIX" "$PASSWORD")
  cpu1=$(cg_usage_us "$cg")
  echo "$json" > "$WORK/$name-mix.json"
  read -r rate p50 p99 commands < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["commands_per_s"], r["p50_ms"], r["p99_ms"], r["commands"])' "$json")
  cpu_ms=$( [[ -n $cpu0 && -n $cpu1 ]] && awk -v c=$((cpu1 - cpu0)) -v n="$commands" 'BEGIN { printf "%.3f", c / 1000 / n }' || echo n/a)
  RATE[$name]=$rate
  P99[$name]=$p99
  report "$(printf '%-8s %12s %9s %9s %12s' "$name" "$rate" "$p50" "$p99" "$cpu_ms")"
  python3 -c 'import json,sys; [print("   %-14s %7d cmds  p50 %8.3f ms  p99 %8.3f ms" % (k, v["count"], v["p50_ms"], v["p99_ms"])) for k, v in json.loads(sys.argv[1])["by_command"].items()]' "$json" | tee -a "$REPORT"

  log "$name: $IDLE_CONNECTIONS idle connections in IDLE"
  sleep 2
  before=$(rss_kib "$cg")
  python3 "$REPO/perf/imap/load.py" idle "$port" "$USERS" "$IDLE_CONNECTIONS" "$((HOLD + 10))" "$PASSWORD" > "$WORK/$name-idle.out" &
  holder=$!
  local deadline=$((SECONDS + 600))
  until grep -q ready "$WORK/$name-idle.out" 2>/dev/null; do
    (( SECONDS < deadline )) && kill -0 "$holder" 2>/dev/null || die "$name: the idle connections did not all reach IDLE"
    sleep 1
  done
  sleep "$HOLD"
  after=$(rss_kib "$cg")
  wait "$holder" || true
  per=$(awk -v a="$after" -v b="$before" -v n="$IDLE_CONNECTIONS" 'BEGIN { printf "%.1f", (a - b) / n }')
  IDLE[$name]=$per
  report "   idle: $IDLE_CONNECTIONS connections in IDLE: RSS $before KiB -> $after KiB, $per KiB per connection"
}

declare -A RATE P99 IDLE
build_engine

# ---------------------------------------------------------------------------------------------
# Data: users and messages, delivered by the engine.
# ---------------------------------------------------------------------------------------------
engine_users "$USERS"

cg_create engine-perf-imap-engine; EN_CG=$CG
( cd "$REPO" && in_cgroup "$EN_CG" dotnet "$ENGINE_DLL" --set "engine.data-dir=\"$ENGINE_DATA\"" \
    --set "engine.smtp.listen=[\"127.0.0.1:$ENGINE_PORT\"]" --set "engine.imap.listen=[\"127.0.0.1:$ENGINE_IMAP\"]" \
    --set "engine.pop3.listen=[]" "${BENCH_ENGINE_ARGS[@]}" --set "engine.storage.fsync=on" --set "engine.smtp.max-connections-per-ip=1000" \
    --set "engine.imap.max-connections=20000" --set "engine.imap.max-connections-per-ip=20000" ) > "$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
wait_port "$ENGINE_IMAP" 60 "$ENGINE_PID" || { tail -30 "$WORK/engine.log" >&2; die "the engine does not listen"; }

log "filling $USERS mailboxes with $MESSAGES messages of $SIZE bytes"
SOURCES=()
for (( u = 1; u <= USERS; u++ )); do
  "$SMTP_SOURCE" -s 5 -m "$MESSAGES" -l "$SIZE" -f a@client.test -t "user$u@$DOMAIN" "127.0.0.1:$ENGINE_PORT" &
  SOURCES+=("$!")
  if (( u % 10 == 0 || u == USERS )); then
    for pid in "${SOURCES[@]}"; do wait "$pid" || die "smtp-source failed"; done
    SOURCES=()
  fi
done
deadline=$((SECONDS + 300))
until (( $(find "$ENGINE_DATA/mail/$DOMAIN" -path '*/new/*' -type f | wc -l) >= USERS * MESSAGES )); do
  (( SECONDS < deadline )) || die "not every message was delivered"
  sleep 1
done

report "imap benchmark, $(date -Is)"
report "host: $(hostname), $(nproc) cpus, kernel $(uname -r), $(/usr/sbin/dovecot --version | head -1 | sed 's/^/dovecot /')"
report "data: $USERS users x $MESSAGES messages of $SIZE bytes, delivered by the engine; Dovecot reads the same Maildirs"
report "mix: $CLIENTS clients (perf/imap/load.py), ${SECONDS_MIX}s measured after ${WARMUP}s warm-up; idle: $IDLE_CONNECTIONS connections, held ${HOLD}s"
report "dovecot: login $DOVECOT_LOGIN mode, imap_hibernate_timeout = 5s"
report ""
report "$(printf '%-8s %12s %9s %9s %12s' server 'commands/s' 'p50 ms' 'p99 ms' 'cpu ms/cmd')"

bench engine "$ENGINE_IMAP" "$EN_CG"
stop_engine

# ---------------------------------------------------------------------------------------------
# Dovecot on the same Maildirs.
# ---------------------------------------------------------------------------------------------
DV=$WORK/dovecot
LOGIN_SERVICE=""
[[ $DOVECOT_LOGIN == performance ]] && LOGIN_SERVICE="service_count = 0
  process_min_avail = $(nproc)"
dovecot_conf "$DV" "$DOVECOT_IMAP" "$USERS" \
  "mail_max_userip_connections = 100000" "imap_hibernate_timeout = 5s" \
  "default_process_limit = 20000" "default_client_limit = 40000" \
  "service imap-login {
  inet_listener imap {
    port = $DOVECOT_IMAP
  }
  inet_listener imaps {
    port = 0
  }
  $LOGIN_SERVICE
}" "service imap-hibernate {
  client_limit = 40000
}" "service imap {
  process_limit = 20000
}" "service anvil {
  chroot =
  client_limit = 40000
}" "service auth {
  client_limit = 40000
}"
cg_create engine-perf-imap-dovecot; DV_CG=$CG
( in_cgroup "$DV_CG" /usr/sbin/dovecot -F -c "$DV/dovecot.conf" ) > "$WORK/dovecot.out" 2>&1 &
DOVECOT_PID=$!
wait_port "$DOVECOT_IMAP" 30 "$DOVECOT_PID" || { cat "$WORK/dovecot.out" "$DV/dovecot.log" >&2; die "dovecot does not listen"; }

bench dovecot "$DOVECOT_IMAP" "$DV_CG"
stop_dovecot

report ""
report "$(awk -v e="${RATE[engine]}" -v d="${RATE[dovecot]}" 'BEGIN { printf "commands/s: engine/dovecot = %.2f", e / d }')"
report "$(awk -v e="${P99[engine]}" -v d="${P99[dovecot]}" 'BEGIN { printf "p99 latency: engine/dovecot = %.2f", e / d }')"
report "$(awk -v e="${IDLE[engine]}" -v d="${IDLE[dovecot]}" 'BEGIN { printf "memory per idle connection: engine/dovecot = %.2f", e / d }')"
log "report: $REPORT"
