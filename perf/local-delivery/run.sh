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
#   WARMUP=20000                                  messages sent (and delivered) first to each server and
#                                                 not measured: the engine's tiered JIT needs them
#   POSTFIX_PORT=2725  ENGINE_PORT=2726           loopback listener ports
#   ENGINE_ADMIN_PORT=2780                        the engine's admin API, read for its JIT time (/metrics)
#   DELIVERY_TIMEOUT=600                          seconds to wait for the deliveries after the load ended
#   VMAIL_ID=5000                                 uid and gid of Postfix's virtual mailboxes
#   PREFILL=0                                     messages already in each user's cur/ before the run
#                                                 (large mailboxes: a delivery must not cost more in them)
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
USERS=${USERS:-100}
POSTFIX_PORT=${POSTFIX_PORT:-2725}
ENGINE_PORT=${ENGINE_PORT:-2726}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-600}
VMAIL_ID=${VMAIL_ID:-5000}
PREFILL=${PREFILL:-0}
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
PURGE_POSTFIX_QUEUE=1   # stop_postfix first deletes the benchmark's mail still queued
CGROUPS=()

mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"   # log, die, report, cgroups, ports, Postfix and engine start/stop

[[ $(id -u) -eq 0 ]] || die "run as root (installs and configures Postfix, creates cgroups)"
for v in MESSAGES WARMUP SESSIONS SIZE USERS DELIVERY_TIMEOUT VMAIL_ID PREFILL; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be an integer"
done
(( MESSAGES > 0 && SESSIONS > 0 )) || die "MESSAGES and SESSIONS must be positive"
(( USERS >= SESSIONS )) || die "USERS ($USERS) must be at least SESSIONS ($SESSIONS): each session sends to users of its own"
(( USERS % SESSIONS == 0 )) || echo "warning: USERS is not a multiple of SESSIONS; the sessions get unequal shares" >&2

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
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

# prefill DIR: PREFILL small messages, seen, in the cur/ of every user's Maildir under DIR (created when
# missing), named as a Maildir delivery would name them.
prefill() {
  (( PREFILL > 0 )) || return 0
  local u
  for (( u = 1; u <= USERS; u++ )); do
    mkdir -p "$1/user$u"/{tmp,new,cur}
    python3 - "$1/user$u/cur" "$PREFILL" <<'PY'
import os, sys
cur, count = sys.argv[1], int(sys.argv[2])
text = b"Subject: old\r\n\r\nkept\r\n"
for i in range(count):
    with open(os.path.join(cur, "1764000000.M%dP1.prefill,S=%d:2,S" % (i, len(text))), "wb") as f:
        f.write(text)
PY
  done
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
measure() {
  local name=$1 port=$2 maildirs=$3 cg=$4 cpu0 cpu1 count rate cpu_ms boxes min max
  settle_caches
  if (( WARMUP > 0 )); then
    log "$name: warm-up, $WARMUP messages"
    run_load "$port" "$name-warmup" "$WARMUP" "$maildirs" "$WARMUP"
    log "$name: warm-up delivered in ${SECS}s (accepted in ${LOAD_SECS}s)"
  fi
  log "$name: $MESSAGES messages"
  cpu0=$(cg_usage_us "$cg")
  [[ $name != engine ]] || jit_mark
  run_load "$port" "$name" "$MESSAGES" "$maildirs" $((WARMUP + MESSAGES))
  cpu1=$(cg_usage_us "$cg")
  [[ $name != engine ]] || jit_mark "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"
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
cleanup() {
  local rc=$?
  set +e
  for pid in "${LANE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${LANE_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  stop_engine
  stop_postfix
  restore_postfix_config
  remove_cgroups
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
prepare_postfix

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
postconf_base \
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

warn_if_queued incoming active deferred maildrop hold

# ---------------------------------------------------------------------------------------------
# Engine: build once, before anything is measured.
# ---------------------------------------------------------------------------------------------
build_engine

# ---------------------------------------------------------------------------------------------
# Report header
# ---------------------------------------------------------------------------------------------
report "local-delivery benchmark, $(date -Is)"
report_host
report "load: $SESSIONS sessions, each one smtp-source ${SOURCE_OPTS:+$SOURCE_OPTS }-s 1 -l $SIZE -f $SENDER at a time;" \
  "$MESSAGES messages spread evenly over user1..user$USERS@$DOMAIN"
report "warm-up: $WARMUP messages to each server, delivered, before the measured run"
report "caches: written back and dropped before each server's warm-up (settle_caches in perf/lib.sh)"
(( PREFILL == 0 )) || report "mailboxes: $PREFILL messages in each user's cur/ before the warm-up"
report "delivery: postfix virtual(8) to Maildir; engine to DATA/mail/$DOMAIN/<user> (Maildir)"
report_fsync_cpu
report ""
report "$(printf '%-8s %9s %9s %9s %9s %12s %9s' server messages delivered seconds msg/s 'cpu ms/msg' 'accept s')"

# ---------------------------------------------------------------------------------------------
# Run 1: Postfix
# ---------------------------------------------------------------------------------------------
log "starting postfix"
clean_maildirs "$PF_MAILDIRS"
prefill "$PF_MAILDIRS"
chown -R "$VMAIL_ID:$VMAIL_ID" "$PF_BASE"
start_postfix

measure postfix "$POSTFIX_PORT" "$PF_MAILDIRS" "$PF_CG"

stop_postfix   # so the engine has the machine to itself (and purges what was not delivered)
# Postfix's mailboxes stay until the end (the exit trap removes $WORK): ext4 without a journal, as here, skips
# inodes freed in the last 60 s (360 s while their table block is dirty) when it allocates one (recently_deleted),
# so deleting Postfix's files just before the engine's run made each file the engine created search past them.

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
  prefill "$EN_MAILDIRS"

  log "starting the engine"
  start_engine

  measure engine "$ENGINE_PORT" "$EN_MAILDIRS" "$EN_CG"

  stop_engine
  report_ratio
  report_jit
fi

report ""
report "delivered: files in the users' Maildir new/ directories (less the warm-up); seconds: from the"
report "start of the load until the last one is there (polled every 0.1 s once the load has ended);"
report "msg/s and cpu ms/msg per delivered message; accept s: until smtp-source had sent everything"
log "report written to $REPORT"
