#!/usr/bin/env bash
# Starts a three-node Engine cluster on this machine, on 127.0.0.2, 127.0.0.3 and 127.0.0.4, with a
# PostgreSQL server of its own (made with initdb under the state folder) and a shared spool and mail
# folder, as a farm would share them over NFS. For trying failover and rolling restarts by hand:
#
#   deploy/cluster-local.sh start [STATE_DIR]   # build, then start PostgreSQL and the three nodes
#   deploy/cluster-local.sh status [STATE_DIR]  # enginectl cluster status through the first node
#   deploy/cluster-local.sh stop [STATE_DIR]    # SIGTERM the nodes, stop PostgreSQL
#
# SMTP listens on 127.0.0.x:2525, IMAP on 127.0.0.x:2143, the admin API on 127.0.0.x:8080; Akka remoting
# on 127.0.0.x:4053. Logs are in STATE_DIR/nodeN.log. Nothing listens beyond loopback, and DNS questions go to
# 127.0.0.1 only (mail for cluster.test is local; add users with enginectl user add ...@cluster.test after
# enginectl domain add cluster.test).
set -euo pipefail
cd "$(dirname "$0")/.."
command=${1:-start}
state=$(realpath -m "${2:-/tmp/engine-cluster}")
addresses=(127.0.0.2 127.0.0.3 127.0.0.4)
pgport=55432
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$command" in
start)
  mkdir -p "$state/spool" "$state/mail"
  if [ ! -d "$state/postgres/data" ]; then
    mkdir -p "$state/postgres"
    [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$state/postgres"
    as_postgres "$pgbin/initdb" -D "$state/postgres/data" --auth=trust --username=postgres >/dev/null
  fi
  as_postgres "$pgbin/pg_ctl" -D "$state/postgres/data" -l "$state/postgres/postgres.log" -w start \
    -o "-p $pgport -k $state/postgres -c listen_addresses=127.0.0.1" >/dev/null
  psql -h 127.0.0.1 -p $pgport -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'engine'" | grep -q 1 \
    || psql -h 127.0.0.1 -p $pgport -U postgres -c "CREATE DATABASE engine" >/dev/null
  dotnet build src/Engine.Host -c Release -nologo -v quiet >/dev/null
  dotnet build src/Engine.Cli -c Release -nologo -v quiet >/dev/null
  for i in 0 1 2; do
    a=${addresses[$i]}
    seeds="[]"
    [ "$i" -eq 0 ] || seeds="[\"akka.tcp://engine@${addresses[0]}:4053\"]"
    mkdir -p "$state/node$((i + 1))"
    nohup dotnet src/Engine.Host/bin/Release/net10.0/engine.dll \
      --set "engine.data-dir = \"$state/node$((i + 1))\"" \
      --set "engine.hostname = node$((i + 1)).cluster.test" \
      --set "engine.persistence.provider = postgresql" \
      --set "engine.persistence.postgresql.connection-string = \"Host=127.0.0.1;Port=$pgport;Database=engine;Username=postgres\"" \
      --set "engine.storage.spool-dir = \"$state/spool\"" \
      --set "engine.mailbox.root = \"$state/mail\"" \
      --set "engine.cluster.hostname = \"$a\"" --set "engine.cluster.port = 4053" --set "engine.cluster.seed-nodes = $seeds" \
      --set "engine.smtp.listen = [\"$a:2525\"]" --set "engine.submission.listen = []" --set "engine.submission.listen-tls = []" \
      --set "engine.imap.listen = [\"$a:2143\"]" --set "engine.imap.listen-tls = []" \
      --set "engine.pop3.listen = [\"$a:2110\"]" --set "engine.pop3.listen-tls = []" \
      --set "engine.web.listen = [\"$a:8080\"]" \
      --set "engine.smtp.mydestination = [\"cluster.test\", \"localhost\"]" \
      --set "engine.delivery.dns-servers = [\"127.0.0.1:53\"]" \
      >"$state/node$((i + 1)).log" 2>&1 &
    echo $! >"$state/node$((i + 1)).pid"
    sleep 3
  done
  echo "three nodes started; logs in $state; deploy/cluster-local.sh status $state"
  ;;
status)
  src/Engine.Cli/bin/Release/net10.0/enginectl --url "http://${addresses[0]}:8080" --token-file "$state/node1/admin.token" cluster status
  ;;
stop)
  # SIGTERM: each node drains its SMTP sessions and leaves the cluster, handing its shards over; up to a minute.
  pids=()
  for i in 3 2 1; do
    [ ! -f "$state/node$i.pid" ] || { pids+=("$(cat "$state/node$i.pid")"); kill -TERM "${pids[-1]}" 2>/dev/null || true; }
    rm -f "$state/node$i.pid"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  as_postgres "$pgbin/pg_ctl" -D "$state/postgres/data" -m fast stop >/dev/null || true
  ;;
*)
  echo "usage: $0 start|status|stop [STATE_DIR]" >&2
  exit 2
  ;;
esac
