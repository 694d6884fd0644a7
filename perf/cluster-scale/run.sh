#!/usr/bin/env bash
# Scaling out: the same load through one engine node, then through two, each node pinned to a core of its
# own with taskset, in the same run. Both setups are a cluster on PostgreSQL (journal, snapshots, directory)
# with a shared spool and mail folder, as a farm: one node on 127.0.0.2, or nodes on 127.0.0.2 and 127.0.0.3.
#
# The load is end to end: Postfix's smtp-source sends MESSAGES messages of SIZE bytes over SESSIONS sessions to
# users of local.test (session L to user L+1), and the time runs until the last one is in its user's Maildir.
# With two nodes, half the sessions go to each node's listener, as DNS MX records of equal preference spread
# senders. Run by hand, as root (initdb runs as postgres; cgroups). See perf/README.md.
#
# Environment:
#   MESSAGES=10000  WARMUP=3000  SESSIONS=20  SIZE=5120   the load; the warm-up is sent first and not measured
#   CORES="0 1"                                           the cores of node 1 and node 2
#   DELIVERY_TIMEOUT=600                                  seconds to wait for the deliveries after the load
#   SKIP_BUILD=1                                          use the existing Release build
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MESSAGES=${MESSAGES:-10000}
WARMUP=${WARMUP:-3000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
read -r -a CORES <<< "${CORES:-0 1}"
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-600}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_ENGINE=0
KEEP_POSTFIX_CONFIG=1
POSTFIX_STARTED=0
ENGINE_PID=""
CGROUPS=()

DOMAIN=local.test
SENDER=a@client.test
SMTP_SOURCE=/usr/sbin/smtp-source
ENGINE_DLL=$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll
ADDRESSES=(127.0.0.2 127.0.0.3)
PGPORT=55433
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$REPO/perf/out
REPORT=$OUT_DIR/cluster-scale-$STAMP.txt
WORK=$(mktemp -d /tmp/engine-perf-cluster.XXXXXX)
chmod 755 "$WORK"   # PostgreSQL runs as postgres under it
NODE_PIDS=()
mkdir -p "$OUT_DIR"

. "$(dirname "$0")/../lib.sh"   # log, die, report, cgroups, now/elapsed, build_engine

[[ $(id -u) -eq 0 ]] || die "run as root (initdb as postgres, cgroups)"
[[ -n $PGBIN ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[[ -x $SMTP_SOURCE ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >/dev/null
(( $(nproc) >= ${#CORES[@]} )) || die "this machine has $(nproc) cores; CORES names ${#CORES[@]}"

pg() { runuser -u postgres -- "$@"; }
psql_do() { psql -h 127.0.0.1 -p $PGPORT -U postgres -qtAc "$1"; }

stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  NODE_PIDS=()
}

cleanup() {
  set +e
  stop_nodes
  [[ ! -d $WORK/pg/data ]] || pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1
  remove_cgroups
  rm -rf "$WORK"
}
trap cleanup EXIT

# settings SETUP N SEEDS: the --set arguments of node N (0-based) of a setup (its own database and folders).
settings() {
  local setup=$1 n=$2 seeds=$3 a=${ADDRESSES[$2]}
  echo "engine.data-dir=\"$WORK/$setup/node$n\""
  echo "engine.hostname=node$n.$setup.test"
  echo "engine.persistence.provider=postgresql"
  echo "engine.persistence.postgresql.connection-string=\"Host=127.0.0.1;Port=$PGPORT;Database=$setup;Username=postgres\""
  echo "engine.storage.spool-dir=\"$WORK/$setup/spool\""
  echo "engine.mailbox.root=\"$WORK/$setup/mail\""
  echo "engine.storage.fsync=on"
  echo "engine.cluster.hostname=\"$a\""
  echo "engine.cluster.port=4053"
  echo "engine.cluster.seed-nodes=$seeds"
  echo "engine.smtp.listen=[\"$a:2525\"]"
  echo "engine.smtp.max-connections-per-ip=1000"   # every session comes from 127.0.0.1
  echo "engine.submission.listen=[]"
  echo "engine.submission.listen-tls=[]"
  echo "engine.imap.listen=[]"
  echo "engine.imap.listen-tls=[]"
  echo "engine.pop3.listen=[]"
  echo "engine.pop3.listen-tls=[]"
  echo "engine.web.listen=[\"$a:8080\"]"
  echo "engine.delivery.dns-servers=[\"127.0.0.1:9\"]"
}

set_args() { local line; ARGS=(); while IFS= read -r line; do ARGS+=(--set "$line"); done < <(settings "$@"); }

# start_nodes SETUP COUNT: a fresh database and folders, the users, then COUNT nodes, node N pinned to CORES[N].
start_nodes() {
  local setup=$1 count=$2 n seeds u
  psql_do "DROP DATABASE IF EXISTS $setup" && psql_do "CREATE DATABASE $setup"
  mkdir -p "$WORK/$setup/spool" "$WORK/$setup/mail"
  set_args "$setup" 0 "[]"
  dotnet "$ENGINE_DLL" "${ARGS[@]}" domain add "$DOMAIN" > "$WORK/cli.log" 2>&1 || { cat "$WORK/cli.log" >&2; die "domain add failed"; }
  { echo "address,display_name,quota,password_hash"; for (( u = 1; u <= SESSIONS; u++ )); do echo "user$u@$DOMAIN,,0,{LOCKED}"; done; } > "$WORK/users.csv"
  dotnet "$ENGINE_DLL" "${ARGS[@]}" user import "$WORK/users.csv" >> "$WORK/cli.log" 2>&1 || { cat "$WORK/cli.log" >&2; die "user import failed"; }
  cg_create engine-perf-nodes; NODES_CG=$CG
  for (( n = 0; n < count; n++ )); do
    seeds="[]"
    (( n == 0 )) || seeds="[\"akka.tcp://engine@${ADDRESSES[0]}:4053\"]"
    set_args "$setup" "$n" "$seeds"
    ( in_cgroup "$NODES_CG" taskset -c "${CORES[$n]}" dotnet "$ENGINE_DLL" "${ARGS[@]}" ) > "$WORK/$setup-node$n.log" 2>&1 &
    NODE_PIDS+=("$!")
    for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/${ADDRESSES[$n]}/2525") 2>/dev/null && break; sleep 0.2; done
    (exec 3<>"/dev/tcp/${ADDRESSES[$n]}/2525") 2>/dev/null || { tail -20 "$WORK/$setup-node$n.log" >&2; die "node $n does not listen"; }
  done
  # Both nodes up in the cluster before any load.
  for _ in $(seq 1 150); do
    (( $(grep -c "Leader is moving node .* to \[Up\]" "$WORK/$setup-node0.log" || true) >= count )) && break
    sleep 0.2
  done
}

delivered() { find "$WORK/$1/mail/$DOMAIN" -mindepth 3 -maxdepth 3 -type f -path "*/new/*" 2>/dev/null | wc -l; }

# load SETUP NODES COUNT: SESSIONS smtp-source sessions (session L to user L+1 at node L mod NODES), then waits
# until SETUP's Maildirs hold TARGET messages. Sets SECS.
load() {
  local setup=$1 nodes=$2 count=$3 target=$4 l t0 pids=() per deadline
  per=$(( count / SESSIONS ))
  sync
  t0=$(now)
  for (( l = 0; l < SESSIONS; l++ )); do
    "$SMTP_SOURCE" -s 1 -m "$per" -l "$SIZE" -f "$SENDER" -t "user$((l + 1))@$DOMAIN" "${ADDRESSES[$((l % nodes))]}:2525" \
      >> "$WORK/$setup-source.err" 2>&1 &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || echo "warning: an smtp-source exited $?" >&2; done
  deadline=$((SECONDS + DELIVERY_TIMEOUT))
  while (( $(delivered "$setup") < target )); do
    (( SECONDS < deadline )) || { echo "warning: $setup: $(delivered "$setup") of $target delivered" >&2; break; }
    sleep 0.1
  done
  SECS=$(elapsed "$t0" "$(now)")
}

declare -A RATE
# measure SETUP NODES: warm-up, then the measured load; one row of the table.
measure() {
  local setup=$1 nodes=$2 per cpu0 cpu1 pg0 pg1 rate cpu_ms pg_ms count
  per=$(( MESSAGES / SESSIONS * SESSIONS ))
  log "$setup: starting $nodes node(s) pinned to cores ${CORES[*]:0:$nodes}"
  start_nodes "$setup" "$nodes"
  log "$setup: warm-up, $WARMUP messages"
  load "$setup" "$nodes" "$WARMUP" $(( WARMUP / SESSIONS * SESSIONS ))
  log "$setup: $per messages"
  cpu0=$(cg_usage_us "$NODES_CG"); pg0=$(cg_usage_us "$PG_CG")
  load "$setup" "$nodes" "$MESSAGES" $(( WARMUP / SESSIONS * SESSIONS + per ))
  cpu1=$(cg_usage_us "$NODES_CG"); pg1=$(cg_usage_us "$PG_CG")
  count=$(( $(delivered "$setup") - WARMUP / SESSIONS * SESSIONS ))
  rate=$(awk -v n="$count" -v s="$SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  cpu_ms=n/a pg_ms=n/a
  [[ -z $cpu0 || -z $cpu1 ]] || cpu_ms=$(awk -v c="$((cpu1 - cpu0))" -v n="$count" 'BEGIN { printf "%.2f", c / 1000 / n }')
  [[ -z $pg0 || -z $pg1 ]] || pg_ms=$(awk -v c="$((pg1 - pg0))" -v n="$count" 'BEGIN { printf "%.2f", c / 1000 / n }')
  RATE[$setup]=$rate
  report "$(printf '%-10s %6s %9s %9s %9s %9s %14s %14s' "$setup" "$nodes" "$per" "$count" "$SECS" "$rate" "$cpu_ms" "$pg_ms")"
  stop_nodes
}

[[ $SKIP_BUILD == 1 ]] || build_engine
log "PostgreSQL on 127.0.0.1:$PGPORT (initdb in $WORK/pg)"
mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
pg "$PGBIN/initdb" -D "$WORK/pg/data" --auth=trust --username=postgres > /dev/null
cg_create engine-perf-pg; PG_CG=$CG
( in_cgroup "$PG_CG" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w start \
    -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" ) > /dev/null

report "cluster-scale $STAMP on $(hostname): $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB; node N pinned to core CORES[N] = ${CORES[*]}"
report "load: smtp-source, $SESSIONS sessions, ${SIZE}-byte messages to $SESSIONS users, one connection per message; delivered into Maildir; fsync on"
report "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), smtp-source and the kernel are not pinned: they run on the same cores"
report ""
report "$(printf '%-10s %6s %9s %9s %9s %9s %14s %14s' setup nodes sent delivered seconds msg/s "node cpu ms/msg" "pg cpu ms/msg")"
measure one 1
measure two 2
report ""
report "two nodes / one node msg/s: $(awk -v t="${RATE[two]}" -v o="${RATE[one]}" 'BEGIN { printf "%.2f", (o > 0 ? t / o : 0) }')"
log "report: $REPORT"
