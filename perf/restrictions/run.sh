#!/usr/bin/env bash
# What the anti-spam policy costs at SMTP time: the engine's acceptance rate with a full restriction set
# (DNS lists, HELO, sender and recipient checks, greylisting) against the same run with the default
# relay-control list only, in one run, as a ratio. The issue's target: at most 15% slower.
#
# Both runs: smtp-source (MESSAGES messages of SIZE bytes over SESSIONS sessions, HELO mail.client.test)
# into the engine (to user@local.test, a mydestination domain), fsync on, mynetworks empty (so no restriction
# is skipped for loopback), and a DNS server
# on loopback (dnsmasq from Debian) answering for client.test's MX and NXDOMAIN for the lists. The "on" run
# adds:
#   client    reject_rbl_client zen.test, reject_rbl_client bl.test
#   helo      reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
#   sender    reject_non_fqdn_sender, reject_unknown_sender_domain
#   recipient reject_non_fqdn_recipient, reject_unauth_destination, check_greylist
# with engine.greylist.delay = 0s; before the load, swaks tries the triplet twice (greylisted, then passed), so
# every RCPT of the load meets a passed triplet (two greylist buckets asked each time). The DNS server's
# records carry a TTL of 300 s, as real ones do, so the resolver's cache works as in production.
#
# Run by hand, as root (cgroups; installs Postfix for smtp-source and dnsmasq if missing). See perf/README.md.
#
# Environment: MESSAGES=20000 SESSIONS=20 SIZE=5120 WARMUP=20000 ENGINE_PORT=2626 DNS_PORT=2653 SKIP_BUILD=1
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-20000}
WARMUP=${WARMUP:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
ENGINE_PORT=${ENGINE_PORT:-2626}
DNS_PORT=${DNS_PORT:-2653}
SKIP_ENGINE=0
SKIP_BUILD=${SKIP_BUILD:-0}
SOURCE_OPTS="-M mail.client.test ${SOURCE_OPTS:-}"

SENDER=a@client.test
RECIPIENT=user@local.test
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/restrictions-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-restrictions.XXXXXX)
ENGINE_DATA=""
ENGINE_PID=""
SOURCE_PID=""
DNS_PID=""
CGROUPS=()
mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (cgroups, packages)"
install_postfix
command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
command -v swaks >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swaks >/dev/null

cleanup() {
  local rc=$?
  set +e
  stop_source
  stop_engine
  [[ -z $DNS_PID ]] || kill "$DNS_PID" 2>/dev/null
  remove_cgroups
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_engine
log "starting dnsmasq on 127.0.0.1:$DNS_PORT"
"$(command -v dnsmasq || echo /usr/sbin/dnsmasq)" --no-daemon --conf-file=/dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 \
  --bind-interfaces --no-resolv --no-hosts --local=/test/ --user=root --local-ttl=300 \
  --mx-host=client.test,mail.client.test,10 --host-record=mail.client.test,127.0.0.1 > "$WORK/dnsmasq.log" 2>&1 &
DNS_PID=$!
sleep 0.5
kill -0 "$DNS_PID" 2>/dev/null || die "dnsmasq did not start: $(cat "$WORK/dnsmasq.log")"

COMMON=(--set "engine.smtp.mynetworks=[]" --set 'engine.smtp.mydestination=["local.test"]' --set 'engine.smtp.local-recipients=["*"]' --set "engine.delivery.dns-servers=[\"127.0.0.1:$DNS_PORT\"]")
ON=(
  --set 'engine.smtp.restrictions.client=["reject_rbl_client zen.test", "reject_rbl_client bl.test"]'
  --set 'engine.smtp.restrictions.helo=[reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname]'
  --set 'engine.smtp.restrictions.sender=[reject_non_fqdn_sender, reject_unknown_sender_domain]'
  --set 'engine.smtp.restrictions.recipient=[reject_non_fqdn_recipient, reject_unauth_destination, check_greylist]'
  --set 'engine.greylist.delay=0s'
)

spooled() { find "$ENGINE_DATA/spool" -type f 2>/dev/null | wc -l; }

# variant NAME ARG...: a fresh engine with ARGs, a warm-up, the measured run, a table row.
variant() {
  local name=$1; shift
  ENGINE_DATA=$WORK/data-$name
  mkdir -p "$ENGINE_DATA"
  log "engine ($name): starting"
  start_engine "${COMMON[@]}" "$@"
  # The triplet passes before the load (greylisted, then retried), so no smtp-source session meets a 450.
  for _ in 1 2; do
    swaks --server "127.0.0.1:$ENGINE_PORT" --helo mail.client.test --from "$SENDER" --to "$RECIPIENT" --quit-after RCPT >/dev/null 2>&1 || true
  done
  log "engine ($name): warm-up, $WARMUP messages"
  send_load "$ENGINE_PORT" "$WORK/$name-warmup.err" "$WARMUP"
  local before cpu0 cpu1
  before=$(spooled)
  log "engine ($name): $MESSAGES messages"
  cpu0=$(cg_usage_us "$EN_CG")
  send_load "$ENGINE_PORT" "$WORK/$name-source.err"
  cpu1=$(cg_usage_us "$EN_CG")
  local count=$(( $(spooled) - before ))
  [[ -s $WORK/$name-source.err ]] && { echo "smtp-source ($name) said:" >&2; head -5 "$WORK/$name-source.err" >&2; }
  (( count == MESSAGES )) || echo "warning: $name stored $count messages, expected $MESSAGES" >&2
  result "$name" "$count" "$SECS" "$([[ -n $cpu0 && -n $cpu1 ]] && echo $((cpu1 - cpu0)))"
  grep -c "reject:" "$WORK/engine.log" > "$WORK/$name-rejects" || true
  stop_engine
}

report "restrictions benchmark, $(date -Is)"
report_host
report "load: smtp-source ${SOURCE_OPTS} -s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RECIPIENT; warm-up $WARMUP per engine"
report_fsync_cpu
report ""
report "$(printf '%-8s %9s %9s %9s %9s %12s' run messages stored seconds msg/s 'cpu ms/msg')"
variant off
variant on "${ON[@]}"
report ""
report "on/off msg/s: $(awk -v a="${RATE[on]}" -v b="${RATE[off]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') (target: at least 0.85)"
report "rejections logged: off $(cat "$WORK/off-rejects"), on $(cat "$WORK/on-rejects") (the greylisted first try of the triplet)"
log "report written to $REPORT"
