#!/usr/bin/env bash
# A 100,000-message mailbox after a restart: how long the first SELECT takes (the mailbox entity recovers from
# its latest snapshot and the events after it), the engine vs Dovecot on the same Maildir, in the same run.
#
# The engine receives MESSAGES messages of SIZE bytes for user1@local.test over SMTP (fsync off while filling),
# is stopped, started again (fsync on), and one client times LOGIN and SELECT INBOX (perf/imap/load.py select).
# A second SELECT in a new session shows the warm figure. Then Dovecot serves the same Maildir: a first SELECT
# builds its index (not measured as recovery), Dovecot is restarted, and the same two SELECTs are timed.
#
# Run by hand, as root. Environment: MESSAGES=100000 SIZE=2048 ENGINE_SMTP=2726 ENGINE_IMAP=2743 DOVECOT_IMAP=2744
#   SKIP_BUILD=1 ENGINE_DLL=path
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-100000}
SIZE=${SIZE:-2048}
ENGINE_PORT=${ENGINE_SMTP:-2726}
ENGINE_IMAP=${ENGINE_IMAP:-2743}
DOVECOT_IMAP=${DOVECOT_IMAP:-2744}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_ENGINE=0
SESSIONS=1
PASSWORD=bench-pass
DOMAIN=local.test
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/mailbox-recovery-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-mailbox-recovery.XXXXXX)
ENGINE_DATA=$WORK/engine-data
ENGINE_PID=""
DOVECOT_PID=""
POSTFIX_STARTED=0
CGROUPS=()
mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"

prepare_dovecot

trap cleanup_imap EXIT
trap 'exit 130' INT TERM

start_engine_imap() {
  ( cd "$REPO" && exec dotnet "$ENGINE_DLL" --set "engine.data-dir=\"$ENGINE_DATA\"" \
      --set "engine.smtp.listen=[\"127.0.0.1:$ENGINE_PORT\"]" --set "engine.imap.listen=[\"127.0.0.1:$ENGINE_IMAP\"]" \
      --set "engine.pop3.listen=[]" "${BENCH_ENGINE_ARGS[@]}" --set "engine.smtp.max-connections-per-ip=1000" "$@" ) >> "$WORK/engine.log" 2>&1 &
  ENGINE_PID=$!
  wait_port "$ENGINE_IMAP" 120 "$ENGINE_PID" || { tail -30 "$WORK/engine.log" >&2; die "the engine does not listen"; }
}

timed_select() { python3 "$REPO/perf/imap/load.py" select "$1" 1 0 0 "$PASSWORD"; }

build_engine
engine_users 1

log "filling user1's INBOX with $MESSAGES messages (fsync off while filling)"
start_engine_imap --set "engine.storage.fsync=off"
"$SMTP_SOURCE" -s 20 -m "$MESSAGES" -l "$SIZE" -f a@client.test -t "user1@$DOMAIN" "127.0.0.1:$ENGINE_PORT" || die "smtp-source failed"
deadline=$((SECONDS + 1200))
until (( $(find "$ENGINE_DATA/mail/$DOMAIN/user1/new" -type f | wc -l) >= MESSAGES )); do
  (( SECONDS < deadline )) || die "not every message was delivered"
  sleep 2
done
stop_engine
snapshots=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), coalesce(max(length(snapshot)),0) from snapshot where persistence_id like \"mailbox-%\"").fetchone())' "$ENGINE_DATA/engine.db" 2>/dev/null || echo n/a)

report "mailbox-recovery benchmark, $(date -Is)"
report "host: $(hostname), $(nproc) cpus, kernel $(uname -r), $(/usr/sbin/dovecot --version | head -1 | sed 's/^/dovecot /')"
report "data: one INBOX of $MESSAGES messages of $SIZE bytes; engine mailbox snapshots (count, largest bytes): $snapshots"
report ""
report "$(printf '%-8s %16s %16s %12s' server 'first SELECT s' 'second SELECT s' 'RSS MiB')"

log "engine: restart, then time the first SELECT"
start_engine_imap --set "engine.storage.fsync=on"
first=$(timed_select "$ENGINE_IMAP")
second=$(timed_select "$ENGINE_IMAP")
rss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$ENGINE_PID/status" 2>/dev/null || echo n/a)
stop_engine
E1=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["select_s"])' "$first")
E2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["select_s"])' "$second")
report "$(printf '%-8s %16s %16s %12s' engine "$E1" "$E2" "$rss")   ($first)"

DV=$WORK/dovecot
dovecot_conf "$DV" "$DOVECOT_IMAP" 1 "service imap-login {
  inet_listener imap {
    port = $DOVECOT_IMAP
  }
  inet_listener imaps {
    port = 0
  }
}" "service anvil {
  chroot =
}"
start_dovecot() {
  /usr/sbin/dovecot -F -c "$DV/dovecot.conf" > "$WORK/dovecot.out" 2>&1 &
  DOVECOT_PID=$!
  wait_port "$DOVECOT_IMAP" 30 "$DOVECOT_PID" || { cat "$WORK/dovecot.out" >&2; die "dovecot does not listen"; }
}
log "dovecot: build its index with a first SELECT, restart, then time"
start_dovecot
timed_select "$DOVECOT_IMAP" > "$WORK/dovecot-index.json"
stop_dovecot
start_dovecot
first=$(timed_select "$DOVECOT_IMAP")
second=$(timed_select "$DOVECOT_IMAP")
stop_dovecot
D1=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["select_s"])' "$first")
D2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["select_s"])' "$second")
report "$(printf '%-8s %16s %16s %12s' dovecot "$D1" "$D2" n/a)   ($first; index built first: $(cat "$WORK/dovecot-index.json"))"
report ""
report "$(awk -v e="$E1" -v d="$D1" 'BEGIN { printf "first SELECT after a restart: engine/dovecot = %.2f", e / d }')"
log "report: $REPORT"
