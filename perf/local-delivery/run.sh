#!/usr/bin/env bash
# End-to-end local delivery benchmark: Postfix vs the Engine, in the same run, both fsyncing.
#
# Each server receives MESSAGES messages of SIZE bytes from Postfix's smtp-source over SESSIONS
# parallel sessions, addressed to USERS users of local.test, and delivers them into the users'
# Maildirs:
#   - Postfix through virtual(8): virtual_mailbox_domains = local.test, one Maildir per user;
#   - the Engine with its own directory (users created with `engine user import` before it starts),
#     delivering to DATA/mail/local.test/<user>.
# The time runs from the start of the load until the last message is in a user's new/ directory.
# Each server runs alone in its own cgroup, so the CPU of all its processes is counted.
#
# Run by hand, as root (it installs and configures the system Postfix). See perf/README.md.
#
# Environment:
#   MESSAGES=20000  SESSIONS=20  SIZE=5120        the load: messages, parallel SMTP sessions, bytes
#   USERS=100                                     recipients user1..userUSERS@local.test, same share each
#   WARMUP=10000                                  messages sent (and delivered) first to each server and
#                                                 not measured: the engine's tiered JIT needs them
#   POSTFIX_PORT=2725  ENGINE_PORT=2726           loopback listener ports
#   DELIVERY_TIMEOUT=600                          seconds to wait for the deliveries after the load ended
#   VMAIL_ID=5000                                 uid and gid of Postfix's virtual mailboxes
#   SKIP_ENGINE=1                                 run only the Postfix half
#   SKIP_BUILD=1                                  use the existing Release build of the engine
#   ENGINE_DLL=path                               another engine.dll (default: the Release build)
#   SOURCE_OPTS="-d"                              extra smtp-source options (-d: many messages per
#                                                 connection; the default is one connection per message)
#   KEEP_POSTFIX_CONFIG=1                         leave /etc/postfix as this script configured it
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-20000}
WARMUP=${WARMUP:-10000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
USERS=${USERS:-100}
POSTFIX_PORT=${POSTFIX_PORT:-2725}
ENGINE_PORT=${ENGINE_PORT:-2726}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-600}
VMAIL_ID=${VMAIL_ID:-5000}
SKIP_ENGINE=${SKIP_ENGINE:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
SOURCE_OPTS=${SOURCE_OPTS:-}
KEEP_POSTFIX_CONFIG=${KEEP_POSTFIX_CONFIG:-0}

DOMAIN=local.test
SENDER=a@client.test
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/local-delivery-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-local-delivery.XXXXXX)   # mailboxes, engine data dir, logs, config backup
PF_BASE=$WORK/postfix-mail        # Postfix's virtual_mailbox_base
PF_MAILDIRS=$PF_BASE/$DOMAIN      # PF_MAILDIRS/userN/{tmp,new,cur}
ENGINE_DATA=$WORK/engine-data
EN_MAILDIRS=$ENGINE_DATA/mail/$DOMAIN   # the engine's Maildirs (engine.mailbox.root = "mail")
ENGINE_PID=""
LANE_PIDS=()
POSTFIX_STARTED=0
CGROUPS=()

mkdir -p "$OUT_DIR"

log()    { echo "== $*" >&2; }
die()    { echo "error: $*" >&2; exit 1; }
report() { echo "$*" | tee -a "$REPORT"; }   # lines that belong in the result file

[[ $(id -u) -eq 0 ]] || die "run as root (installs and configures Postfix, creates cgroups)"
for v in MESSAGES WARMUP SESSIONS SIZE USERS DELIVERY_TIMEOUT VMAIL_ID; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be an integer"
done
(( MESSAGES > 0 && SESSIONS > 0 )) || die "MESSAGES and SESSIONS must be positive"
(( USERS >= SESSIONS )) || die "USERS ($USERS) must be at least SESSIONS ($SESSIONS): each session sends to users of its own"
(( USERS % SESSIONS == 0 )) || echo "warning: USERS is not a multiple of SESSIONS; the sessions get unequal shares" >&2

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
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# delivered DIR: messages in the new/ directories of the Maildirs under DIR (DIR/<user>/new/<file>).
delivered() {
  { find "$1" -mindepth 3 -maxdepth 3 -type f -path "$1/*/new/*" 2>/dev/null || true; } | wc -l
}

# mailbox_spread DIR: "BOXES MIN MAX": how many Maildirs under DIR have messages in new/, and the
# fewest and most messages in one of them.
mailbox_spread() {
  { find "$1" -mindepth 3 -maxdepth 3 -type f -path "$1/*/new/*" -printf '%h\n' 2>/dev/null || true; } \
    | sort | uniq -c \
    | awk 'NR == 1 || $1 < min { min = $1 } $1 > max { max = $1 } END { print NR, min + 0, max + 0 }'
}

# clean_maildirs DIR: empties every Maildir under DIR (keeps the directories).
clean_maildirs() {
  [[ -d $1 ]] || return 0
  find "$1" -mindepth 3 -maxdepth 3 -type f \
    \( -path "$1/*/new/*" -o -path "$1/*/cur/*" -o -path "$1/*/tmp/*" \) -delete
}

# share U COUNT: how many of COUNT messages go to user U (COUNT/USERS each, the remainder to the first ones).
share() { echo $(( $2 / USERS + ($1 <= $2 % USERS ? 1 : 0) )); }

# lane PORT ERRFILE COUNT L: one of the SESSIONS parallel sessions. Lane L (0-based) sends to the users
# L+1, L+1+SESSIONS, L+1+2*SESSIONS, ...: for each of them in turn, one `smtp-source -s 1` with that
# user's share. So SESSIONS sessions run at once and every user gets its share. Run in the background.
lane() {
  local port=$1 err=$2 count=$3 l=$4 u n child="" rc=0
  trap '[[ -z $child ]] || kill "$child" 2>/dev/null; exit 143' TERM
  for (( u = l + 1; u <= USERS; u += SESSIONS )); do
    n=$(share "$u" "$count")
    (( n > 0 )) || continue
    # shellcheck disable=SC2086  # SOURCE_OPTS is a list of options
    "$SMTP_SOURCE" $SOURCE_OPTS -s 1 -m "$n" -l "$SIZE" -f "$SENDER" -t "user$u@$DOMAIN" \
      "127.0.0.1:$port" >> "$err" 2>&1 &
    child=$!
    wait "$child" || rc=$?
    child=""
  done
  exit "$rc"
}

# run_load PORT TAG COUNT MAILDIRS TARGET: sends COUNT messages over SESSIONS lanes, then waits until
# MAILDIRS holds TARGET delivered messages (polled every 0.1 s, for at most DELIVERY_TIMEOUT seconds
# after the load ended). Sets SECS (start of the load to the last delivery), LOAD_SECS (start to the
# end of the load: every message accepted) and TOTAL (messages in new/ at the end).
run_load() {
  local port=$1 tag=$2 count=$3 maildirs=$4 target=$5 t0 t_load t1 rc=0 l pid deadline
  rm -f "$WORK/$tag".lane*.err
  sync   # start from clean page cache writeback, so one server does not pay for the other's
  t0=$(now)
  LANE_PIDS=()
  for (( l = 0; l < SESSIONS; l++ )); do
    lane "$port" "$WORK/$tag.lane$l.err" "$count" "$l" &
    LANE_PIDS+=("$!")
  done
  for pid in "${LANE_PIDS[@]}"; do wait "$pid" || rc=$?; done
  t_load=$(now)
  LANE_PIDS=()
  (( rc == 0 )) || echo "warning: an smtp-source exited $rc" >&2
  if cat "$WORK/$tag".lane*.err 2>/dev/null | grep -q .; then
    echo "smtp-source ($tag) said:" >&2
    cat "$WORK/$tag".lane*.err | head -5 >&2
  fi
  # Poll only once the load has ended: no message can be delivered before it is accepted, so the end
  # time is the same, and the find does not take CPU from the server while it receives.
  deadline=$((SECONDS + DELIVERY_TIMEOUT))
  while TOTAL=$(delivered "$maildirs"); (( TOTAL < target )); do
    if (( SECONDS >= deadline )); then
      echo "warning: $tag: $TOTAL of $target messages delivered after waiting ${DELIVERY_TIMEOUT}s" >&2
      break
    fi
    sleep 0.1
  done
  t1=$(now)
  SECS=$(elapsed "$t0" "$t1")
  LOAD_SECS=$(elapsed "$t0" "$t_load")
}

# measure NAME PORT MAILDIRS CGROUP: warm-up, then the measured load; prints the table row.
declare -A RATE
measure() {
  local name=$1 port=$2 maildirs=$3 cg=$4 cpu0 cpu1 count rate cpu_ms boxes min max
  if (( WARMUP > 0 )); then
    log "$name: warm-up, $WARMUP messages"
    run_load "$port" "$name-warmup" "$WARMUP" "$maildirs" "$WARMUP"
    log "$name: warm-up delivered in ${SECS}s (accepted in ${LOAD_SECS}s)"
  fi
  log "$name: $MESSAGES messages"
  cpu0=$(cg_usage_us "$cg")
  run_load "$port" "$name" "$MESSAGES" "$maildirs" $((WARMUP + MESSAGES))
  cpu1=$(cg_usage_us "$cg")
  count=$(( TOTAL - WARMUP ))
  (( count == MESSAGES )) || echo "warning: $name delivered $count messages, expected $MESSAGES" >&2
  read -r boxes min max < <(mailbox_spread "$maildirs")
  log "$name: $TOTAL messages in $boxes mailboxes, $min to $max each (warm-up included)"
  (( boxes == USERS )) || echo "warning: $name delivered to $boxes mailboxes, expected $USERS" >&2
  rate=$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  if [[ -n $cpu0 && -n $cpu1 ]] && (( count > 0 )); then
    cpu_ms=$(awk -v c="$((cpu1 - cpu0))" -v n="$count" 'BEGIN { printf "%.2f", c / 1000 / n }')
  else
    cpu_ms=n/a
  fi
  RATE[$name]=$rate
  report "$(printf '%-8s %9s %9s %9s %9s %12s %9s' "$name" "$MESSAGES" "$count" "$SECS" "$rate" "$cpu_ms" "$LOAD_SECS")"
}

# ---------------------------------------------------------------------------------------------
# Cleanup on exit: stop the load and both servers, remove what is left of the benchmark's mail from
# Postfix's queue, restore Postfix's config, remove the cgroups and the temp dir.
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

# purge_postfix_queue: deletes the benchmark's messages still queued (from SENDER, or to DOMAIN, or a
# bounce to SENDER), nothing else. Needs Postfix running (postqueue asks its showq service).
purge_postfix_queue() {
  postfix status >/dev/null 2>&1 || return 0
  local ids
  ids=$(postqueue -j 2>/dev/null | grep -F -e "\"$SENDER\"" -e "@$DOMAIN\"" \
        | sed -n 's/.*"queue_id": *"\([0-9A-Za-z]*\)".*/\1/p') || true
  [[ -z $ids ]] || { echo "$ids" | postsuper -d - >/dev/null 2>&1 || true; }
}

stop_postfix() {
  [[ $POSTFIX_STARTED == 1 ]] || return 0
  purge_postfix_queue
  postfix stop >/dev/null 2>&1 || true
  # The master waits for its children; give them a moment to leave the cgroup.
  for _ in $(seq 1 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
  POSTFIX_STARTED=0
}

cleanup() {
  local rc=$?
  set +e
  for pid in "${LANE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${LANE_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  stop_engine
  stop_postfix
  if [[ $KEEP_POSTFIX_CONFIG != 1 && -f $WORK/main.cf ]]; then
    cp "$WORK/main.cf" /etc/postfix/main.cf
    cp "$WORK/master.cf" /etc/postfix/master.cf
  fi
  for dir in "${CGROUPS[@]}"; do
    for _ in $(seq 1 25); do rmdir "$dir" 2>/dev/null && break; sleep 0.2; done
  done
  if [[ $KEEP_POSTFIX_CONFIG == 1 ]]; then
    rm -rf "$ENGINE_DATA"   # main.cf still names the map and the mailboxes under $WORK
    echo "note: $WORK kept (Postfix's virtual mailbox map and base)" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Postfix: install if missing, stop the packaged instance, configure virtual Maildir delivery.
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

# The virtual mailboxes: userN@local.test -> PF_BASE/local.test/userN/ (trailing "/": Maildir),
# created beforehand and owned by VMAIL_ID, which virtual(8) delivers as (no passwd entry needed).
chmod 755 "$WORK"   # virtual(8) runs as VMAIL_ID and must reach the mailboxes
: > "$WORK/vmailbox"
for (( u = 1; u <= USERS; u++ )); do
  echo "user$u@$DOMAIN $DOMAIN/user$u/" >> "$WORK/vmailbox"
  mkdir -p "$PF_MAILDIRS/user$u"/{tmp,new,cur}
done
chown -R "$VMAIL_ID:$VMAIL_ID" "$PF_BASE"
chmod 644 "$WORK/vmailbox"
postmap "hash:$WORK/vmailbox"

log "configuring postfix"
# Loopback only, no DNS, no rate limits, no TLS; queue-file fsync stays as shipped (always on), and
# virtual(8) fsyncs each Maildir file before it links it into new/.
# default_transport/relay_transport = error: mail for any other domain (a bounce to client.test, say)
# fails at once and never leaves the machine.
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
  'smtpd_tls_security_level = none' \
  'default_transport = error' \
  'relay_transport = error' \
  "virtual_mailbox_domains = $DOMAIN" \
  "virtual_mailbox_base = $PF_BASE" \
  "virtual_mailbox_maps = hash:$WORK/vmailbox" \
  "virtual_uid_maps = static:$VMAIL_ID" \
  "virtual_gid_maps = static:$VMAIL_ID"
# A plain smtpd listener (not chrooted); recipients are checked against virtual_mailbox_maps.
postconf -M "127.0.0.1:$POSTFIX_PORT/inet = 127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd"
postfix check || die "postfix check failed"

QUEUE_DIR=$(postconf -h queue_directory)
other=$(find "$QUEUE_DIR"/{incoming,active,deferred,maildrop,hold} -type f 2>/dev/null | wc -l)
(( other == 0 )) || echo "warning: $other messages in Postfix's queues; its qmgr may be busy" >&2

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
report "local-delivery benchmark, $(date -Is)"
report "host: $(hostname), $(nproc) cpus, kernel $(uname -r), postfix $(postconf -h mail_version)"
report "load: $SESSIONS sessions, each one smtp-source ${SOURCE_OPTS:+$SOURCE_OPTS }-s 1 -l $SIZE -f $SENDER at a time;" \
  "$MESSAGES messages spread evenly over user1..user$USERS@$DOMAIN"
report "warm-up: $WARMUP messages to each server, delivered, before the measured run"
report "delivery: postfix virtual(8) to Maildir; engine to DATA/mail/$DOMAIN/<user> (Maildir)"
report "fsync: postfix as shipped (on), engine engine.storage.fsync=on"
if [[ -n $CG_BASE ]]; then
  report "cpu: server processes only (not smtp-source), cgroup $CG_KIND under $CG_BASE"
else
  report "cpu: n/a (no writable cgroup)"
fi
report ""
report "$(printf '%-8s %9s %9s %9s %9s %12s %9s' server messages delivered seconds msg/s 'cpu ms/msg' 'accept s')"

# ---------------------------------------------------------------------------------------------
# Run 1: Postfix
# ---------------------------------------------------------------------------------------------
log "starting postfix"
clean_maildirs "$PF_MAILDIRS"
cg_create engine-perf-postfix; PF_CG=$CG
[[ -x /usr/lib/postfix/configure-instance.sh ]] && /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true
( in_cgroup "$PF_CG" postfix start ) >/dev/null 2>&1 || die "postfix start failed"
POSTFIX_STARTED=1
wait_port "$POSTFIX_PORT" 30 || die "postfix does not listen on 127.0.0.1:$POSTFIX_PORT"

measure postfix "$POSTFIX_PORT" "$PF_MAILDIRS" "$PF_CG"

stop_postfix   # so the engine has the machine to itself (and purges what was not delivered)
rm -rf "$PF_BASE"

# ---------------------------------------------------------------------------------------------
# Run 2: the Engine
# ---------------------------------------------------------------------------------------------
if [[ $SKIP_ENGINE != 1 ]]; then
  engine_cli() { ( cd "$REPO" && dotnet "$ENGINE_DLL" --set "engine.data-dir=\"$ENGINE_DATA\"" "$@" ); }

  log "creating the engine's $USERS users (data dir $ENGINE_DATA)"
  mkdir -p "$ENGINE_DATA"
  engine_cli domain add "$DOMAIN" > "$WORK/engine-cli.log" 2>&1 \
    || { cat "$WORK/engine-cli.log" >&2; die "engine domain add failed"; }
  {
    echo "address,display_name,quota,password_hash"
    for (( u = 1; u <= USERS; u++ )); do echo "user$u@$DOMAIN,,0,"; done
  } > "$WORK/users.csv"
  engine_cli user import "$WORK/users.csv" >> "$WORK/engine-cli.log" 2>&1 \
    || { cat "$WORK/engine-cli.log" >&2; die "engine user import failed"; }
  engine_cli user list "$DOMAIN" > "$WORK/users.list" 2>> "$WORK/engine-cli.log" \
    || { cat "$WORK/engine-cli.log" >&2; die "engine user list failed"; }
  n=$(grep -c "@$DOMAIN" "$WORK/users.list" || true)
  (( n == USERS )) || die "the engine lists $n users in $DOMAIN, expected $USERS"
  clean_maildirs "$EN_MAILDIRS"

  log "starting the engine"
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

  measure engine "$ENGINE_PORT" "$EN_MAILDIRS" "$EN_CG"

  stop_engine
  report ""
  report "engine/postfix msg/s: $(awk -v e="${RATE[engine]}" -v p="${RATE[postfix]}" \
    'BEGIN { printf "%.2f", (p > 0 ? e / p : 0) }')"
fi

report ""
report "delivered: files in the users' Maildir new/ directories (less the warm-up); seconds: from the"
report "start of the load until the last one is there (polled every 0.1 s once the load has ended);"
report "msg/s and cpu ms/msg per delivered message; accept s: until smtp-source had sent everything"
log "report written to $REPORT"
