# shellcheck shell=bash
# Shared helpers of the perf/*/run.sh benchmarks (Postfix vs the Engine). Sourced, not run:
#   . "$(dirname "$0")/../lib.sh"
# after the script has set its variables (REPO, WORK, REPORT, SMTP_SOURCE, POSTFIX_PORT, ENGINE_PORT,
# ENGINE_DLL, ENGINE_DATA, SESSIONS, SKIP_ENGINE, SKIP_BUILD, KEEP_POSTFIX_CONFIG, ENGINE_PID,
# POSTFIX_STARTED, CGROUPS). Each script keeps its own load, measurement, report and cleanup logic.

log()    { echo "== $*" >&2; }
die()    { echo "error: $*" >&2; exit 1; }
report() { echo "$*" | tee -a "$REPORT"; }   # lines that belong in the result file

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
# Only the subshell moves, never the script itself, so smtp-source (and smtp-sink) are not counted.
in_cgroup() {
  local dir=$1; shift
  [[ -z $dir ]] || echo "$BASHPID" > "$dir/cgroup.procs" 2>/dev/null || echo "warning: could not join $dir" >&2
  exec "$@"
}

# remove_cgroups: removes the cgroups made by cg_create (once their processes have left).
remove_cgroups() {
  local dir
  for dir in "${CGROUPS[@]}"; do
    for _ in $(seq 1 25); do rmdir "$dir" 2>/dev/null && break; sleep 0.2; done
  done
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

# stop_source: stops a running smtp-source (SOURCE_PID, if the script uses one).
stop_source() {
  [[ -z ${SOURCE_PID:-} ]] || { kill "$SOURCE_PID" 2>/dev/null; wait "$SOURCE_PID" 2>/dev/null; }
}

# ---------------------------------------------------------------------------------------------
# The servers: start and stop.
# ---------------------------------------------------------------------------------------------
# stop_engine: TERM, up to 30 s to exit, then KILL.
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

# postfix_stop_wait: postfix stop, then until it is gone (at most 10 s).
postfix_stop_wait() {
  postfix stop >/dev/null 2>&1 || true
  # The master waits for its children; give them a moment to leave the cgroup.
  for _ in $(seq 1 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
}

# stop_postfix: stops the instance this script started; with PURGE_POSTFIX_QUEUE=1 (set by the
# script) it first runs purge_postfix_queue.
stop_postfix() {
  [[ $POSTFIX_STARTED == 1 ]] || return 0
  [[ ${PURGE_POSTFIX_QUEUE:-0} != 1 ]] || purge_postfix_queue
  postfix_stop_wait
  POSTFIX_STARTED=0
}

# start_postfix: starts Postfix in its own cgroup (sets PF_CG) and waits for POSTFIX_PORT.
start_postfix() {
  cg_create engine-perf-postfix; PF_CG=$CG
  [[ -x /usr/lib/postfix/configure-instance.sh ]] && /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true
  ( in_cgroup "$PF_CG" postfix start ) >/dev/null 2>&1 || die "postfix start failed"
  POSTFIX_STARTED=1
  wait_port "$POSTFIX_PORT" 30 || die "postfix does not listen on 127.0.0.1:$POSTFIX_PORT"
}

# What every benchmark engine is started with: only the listeners the benchmark names (no TLS ones, no
# submission), imported hashes kept as they are (a rehash to Argon2id would make LOGIN the benchmark), and
# passwords over plain loopback as the load generators send them.
BENCH_ENGINE_ARGS=(
  --set "engine.imap.listen-tls=[]" --set "engine.pop3.listen-tls=[]"
  --set "engine.submission.listen=[]" --set "engine.submission.listen-tls=[]"
  --set "engine.auth.rehash=off" --set "engine.auth.plaintext-on-loopback=on"
)

# start_engine [ARG...]: starts the engine in its own cgroup (sets EN_CG and ENGINE_PID) with its data
# dir ENGINE_DATA, listening on ENGINE_PORT, fsync on, plus ARGs; waits for ENGINE_PORT.
start_engine() {
  cg_create engine-perf-engine; EN_CG=$CG
  local engine_args=(
    --set "engine.data-dir=\"$ENGINE_DATA\""
    --set "engine.smtp.listen=[\"127.0.0.1:$ENGINE_PORT\"]"
    --set "engine.web.listen=[\"127.0.0.1:$ENGINE_ADMIN_PORT\"]"
    "${BENCH_ENGINE_ARGS[@]}"
    --set "engine.storage.fsync=on"
    "$@"
  )
  # Postfix runs without a per-client connection limit; the engine's default is 50.
  (( SESSIONS <= 50 )) || engine_args+=(--set "engine.smtp.max-connections-per-ip=$SESSIONS")
  # As deploy/engine.service runs it: the JIT counts calls for promotion at once (see perf/README.md).
  ( cd "$REPO" && export DOTNET_TC_CallCountingDelayMs=${DOTNET_TC_CallCountingDelayMs:-0} \
      && in_cgroup "$EN_CG" dotnet "$ENGINE_DLL" "${engine_args[@]}" ) > "$WORK/engine.log" 2>&1 &
  ENGINE_PID=$!
  wait_port "$ENGINE_PORT" 60 "$ENGINE_PID" \
    || { tail -30 "$WORK/engine.log" >&2; die "the engine does not listen on 127.0.0.1:$ENGINE_PORT"; }
}

# The engine's admin API, for its /metrics (the runtime's JIT time); not the default 8080, which may be taken.
ENGINE_ADMIN_PORT=${ENGINE_ADMIN_PORT:-2780}

# engine_jit_seconds: the engine's JIT time so far (dotnet_jit_compilation_time_seconds_total from its
# /metrics, with the admin token of ENGINE_DATA); "" when it cannot be read.
engine_jit_seconds() {
  local token
  token=$(cat "$ENGINE_DATA/admin.token" 2>/dev/null) || return 0
  curl -s -m 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$ENGINE_ADMIN_PORT/metrics" 2>/dev/null \
    | awk '/^dotnet_jit_compilation_time_seconds_total/ { print $2 }' || true
}

# jit_mark: the engine's JIT time at the start of the measured run (JIT0); jit_mark CPU_US, at its end (JIT1,
# and the CPU time its cgroup used during the run).
jit_mark() {
  if (( $# == 0 )); then JIT0=$(engine_jit_seconds); else JIT1=$(engine_jit_seconds) JIT_CPU=$1; fi
}

# report_jit: how long the engine's JIT compiled during the measured run, against the CPU time it used then;
# a warning when that was more than 2% (not yet at its steady state: a longer WARMUP is needed).
report_jit() {
  local share
  if [[ -z ${JIT0:-} || -z ${JIT1:-} || -z ${JIT_CPU:-} ]]; then
    report "engine JIT during the measured run: n/a (no /metrics on 127.0.0.1:$ENGINE_ADMIN_PORT or no cgroup)"
    return 0
  fi
  share=$(awk -v a="$JIT0" -v b="$JIT1" -v c="$JIT_CPU" 'BEGIN { printf "%.1f", (c > 0 ? (b - a) * 1e8 / c : 0) }')
  report "engine JIT during the measured run: $(awk -v a="$JIT0" -v b="$JIT1" 'BEGIN { printf "%.2f", b - a }') s, ${share}% of its CPU time"
  if awk -v s="$share" 'BEGIN { exit !(s > 2) }'; then
    echo "warning: the engine was still compiling (JIT) during the measured run; a longer WARMUP measures its steady state" >&2
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# Postfix setup: install if missing, stop the packaged instance, save and restore the config.
# ---------------------------------------------------------------------------------------------
# install_postfix [BINARY...]: installs the postfix package if postfix, SMTP_SOURCE or a BINARY is missing.
install_postfix() {
  local f missing=0
  command -v postfix >/dev/null || missing=1
  for f in "$SMTP_SOURCE" "$@"; do [[ -x $f ]] || missing=1; done
  (( missing )) || return 0
  log "installing postfix"
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >"$WORK/apt.log" 2>&1; then
    apt-get update >>"$WORK/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >>"$WORK/apt.log" 2>&1 \
      || { tail -20 "$WORK/apt.log" >&2; die "could not install postfix"; }
  fi
}

# stop_running_postfix: the post-install (or anyone else) may have started it on port 25: our
# instance starts in our cgroup.
stop_running_postfix() {
  postfix status >/dev/null 2>&1 || return 0
  log "stopping the running postfix"
  postfix_stop_wait
}

# check_ports_free [PORT...]: dies if POSTFIX_PORT, a PORT, or ENGINE_PORT (unless SKIP_ENGINE=1)
# already accepts connections.
check_ports_free() {
  local port
  for port in "$POSTFIX_PORT" "$@"; do
    ! port_open "$port" || die "127.0.0.1:$port is already in use"
  done
  [[ $SKIP_ENGINE == 1 ]] || ! port_open "$ENGINE_PORT" || die "127.0.0.1:$ENGINE_PORT is already in use"
  [[ $SKIP_ENGINE == 1 ]] || ! port_open "$ENGINE_ADMIN_PORT" || die "127.0.0.1:$ENGINE_ADMIN_PORT is already in use"
}

# prepare_postfix [EXTRA_BINARY] [EXTRA_PORT]: installs Postfix if missing, stops the packaged instance,
# checks that the ports are free and backs up its configuration (restored on exit).
prepare_postfix() {
  install_postfix ${1:+"$1"}
  stop_running_postfix
  check_ports_free ${2:+"$2"}
  backup_postfix_config
}

# warn_if_queued QUEUE...: warns when those Postfix queues already hold messages (its qmgr would be busy
# during the measurement). Sets QUEUE_DIR.
warn_if_queued() {
  local queue other=0
  QUEUE_DIR=$(postconf -h queue_directory)
  for queue in "$@"; do
    other=$(( other + $(find "$QUEUE_DIR/$queue" -type f 2>/dev/null | wc -l) ))
  done
  (( other == 0 )) || echo "warning: $other messages in Postfix's queues ($*); its qmgr may be busy" >&2
}

backup_postfix_config() {
  cp /etc/postfix/main.cf /etc/postfix/master.cf "$WORK/"   # restored on exit
}

# restore_postfix_config [CMD...]: puts back main.cf and master.cf (unless KEEP_POSTFIX_CONFIG=1),
# then runs CMD (for other files the script changed).
restore_postfix_config() {
  [[ $KEEP_POSTFIX_CONFIG != 1 && -f $WORK/main.cf ]] || return 0
  cp "$WORK/main.cf" /etc/postfix/main.cf
  cp "$WORK/master.cf" /etc/postfix/master.cf
  (( $# == 0 )) || "$@"
}

# postconf_base [SETTING...]: postconf -e of the settings all benchmarks share, plus SETTINGs.
# Loopback only, no DNS, no rate limits, no TLS; queue-file fsync stays as shipped (always on).
postconf_base() {
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
    "$@"
}

# ---------------------------------------------------------------------------------------------
# Engine: build once, before anything is measured.
# ---------------------------------------------------------------------------------------------
build_engine() {
  if [[ $SKIP_ENGINE != 1 && $SKIP_BUILD != 1 ]]; then
    log "building the engine (Release)"
    dotnet build -c Release "$REPO/src/Engine.Host" > "$WORK/build.log" 2>&1 \
      || { tail -30 "$WORK/build.log" >&2; die "engine build failed"; }
  fi
  [[ $SKIP_ENGINE == 1 || -f $ENGINE_DLL ]] || die "$ENGINE_DLL not found"
}

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
report_host() {
  report "host: $(hostname), $(nproc) cpus, kernel $(uname -r), postfix $(postconf -h mail_version)"
}

# report_fsync_cpu [NOT]: the fsync and cpu lines; NOT: what the cpu does not count (default smtp-source).
report_fsync_cpu() {
  report "fsync: postfix as shipped (on), engine engine.storage.fsync=on"
  if [[ -n $CG_BASE ]]; then
    report "cpu: server processes only (not ${1:-smtp-source}), cgroup $CG_KIND under $CG_BASE"
  else
    report "cpu: n/a (no writable cgroup)"
  fi
}

# settle_caches: before a server's warm-up, writes back what is dirty and drops the clean caches, so that a server
# does not pay for the files the other one (or an earlier run's cleanup) deleted just before. On an ext4 file system
# without a journal, as here, a new inode is not taken from those deleted in the last minutes while their inode-table
# block is still cached (the kernel's recently_deleted()): after tens of thousands of deletions every file created
# scans the inode bitmaps (perf: find_inode_bit, recently_deleted, find_get_block_common), and a run's system time
# went from about 35% to 50-60% of the machine. The warm-up then fills the caches again before the measured run.
# SETTLE_CACHES=0 only writes back (to compare).
settle_caches() {
  sync
  [[ ${SETTLE_CACHES:-1} == 1 ]] || return 0
  if [[ -w /proc/sys/vm/drop_caches ]]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

# ---------------------------------------------------------------------------------------------
# SMTP load (smtp-source): MESSAGES, SESSIONS, SIZE, SENDER, RECIPIENT, SOURCE_OPTS, SMTP_SOURCE.
# ---------------------------------------------------------------------------------------------
# send_load PORT ERRFILE [COUNT]: runs smtp-source against 127.0.0.1:PORT; sets LOAD_T0 and LOAD_T1 (its start
# and end) and SECS (the seconds between). smtp-source runs in the background and is waited for, so a signal
# reaches the trap at once.
send_load() {
  local port=$1 err=$2 count=${3:-$MESSAGES} rc=0
  sync   # start from clean page cache writeback, so one server does not pay for the other's
  LOAD_T0=$(now)
  # shellcheck disable=SC2086  # SOURCE_OPTS is a list of options
  "$SMTP_SOURCE" $SOURCE_OPTS -s "$SESSIONS" -m "$count" -l "$SIZE" \
    -f "$SENDER" -t "$RECIPIENT" "127.0.0.1:$port" > "$err" 2>&1 &
  SOURCE_PID=$!
  wait "$SOURCE_PID" || rc=$?
  LOAD_T1=$(now)
  SOURCE_PID=""
  (( rc == 0 )) || echo "warning: smtp-source exited $rc" >&2
  SECS=$(elapsed "$LOAD_T0" "$LOAD_T1")
}

# result NAME COUNT SECONDS CPU_US: one table row, and remembers msg/s for the ratio.
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

# RATE[server]: msg/s of each server's measured run, for report_ratio.
declare -A RATE
report_ratio() {
  report ""
  report "engine/postfix msg/s: $(awk -v e="${RATE[engine]}" -v p="${RATE[postfix]}" \
    'BEGIN { printf "%.2f", (p > 0 ? e / p : 0) }')"
}

# ---------------------------------------------------------------------------------------------
# IMAP benchmarks (perf/imap, perf/mailbox-recovery): Dovecot from Debian, and the engine's users.
# They set DOVECOT_PID, ENGINE_DATA, WORK, REPO, ENGINE_DLL, DOMAIN, PASSWORD.
# ---------------------------------------------------------------------------------------------
# prepare_dovecot: root, dovecot-imapd (installed when missing), and smtp-source to fill the mailboxes.
prepare_dovecot() {
  [[ $(id -u) -eq 0 ]] || die "run as root (cgroups, Dovecot's mail user, ulimits)"
  [[ -x /usr/sbin/dovecot ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd >/dev/null
  install_postfix   # for smtp-source only
}

stop_dovecot() {
  [[ -n $DOVECOT_PID ]] || return 0
  kill "$DOVECOT_PID" 2>/dev/null || true
  wait "$DOVECOT_PID" 2>/dev/null || true
  DOVECOT_PID=""
}

# cleanup_imap: the EXIT trap of the IMAP benchmarks.
cleanup_imap() {
  local rc=$?
  set +e
  stop_engine
  stop_dovecot
  remove_cgroups
  rm -rf "$WORK"
  exit "$rc"
}

# engine_users COUNT: the domain and user1..userCOUNT in the engine's directory, with PASSWORD hashed as
# PBKDF2-SHA256 of 1,000 iterations (the engine's scheme; its default 600,000 would make LOGIN the benchmark).
engine_users() {
  local count=$1 hash u
  mkdir -p "$ENGINE_DATA"
  ( cd "$REPO" && dotnet "$ENGINE_DLL" --set "engine.data-dir=\"$ENGINE_DATA\"" domain add "$DOMAIN" ) > "$WORK/cli.log" 2>&1 \
    || { cat "$WORK/cli.log" >&2; die "domain add failed"; }
  hash=$(python3 -c 'import hashlib,base64,os,sys; s=os.urandom(16); h=hashlib.pbkdf2_hmac("sha256", sys.argv[1].encode(), s, 1000); print("{PBKDF2-SHA256}$1000$%s$%s" % (base64.b64encode(s).decode(), base64.b64encode(h).decode()))' "$PASSWORD")
  { echo "address,display_name,quota,password_hash"; for (( u = 1; u <= count; u++ )); do echo "user$u@$DOMAIN,,0,$hash"; done; } > "$WORK/users.csv"
  ( cd "$REPO" && dotnet "$ENGINE_DLL" --set "engine.data-dir=\"$ENGINE_DATA\"" user import "$WORK/users.csv" ) >> "$WORK/cli.log" 2>&1 \
    || { cat "$WORK/cli.log" >&2; die "user import failed"; }
}

# dovecot_conf DIR PORT USERS [EXTRA...]: DIR/dovecot.conf serving the engine's Maildirs (ENGINE_DATA/mail/%d/%n)
# as nobody, user1..userUSERS with PASSWORD in plain text, on 127.0.0.1:PORT; each EXTRA is a line added at the end.
dovecot_conf() {
  local dir=$1 port=$2 users=$3 u
  shift 3
  mkdir -p "$dir/home"
  for (( u = 1; u <= users; u++ )); do echo "user$u@$DOMAIN:{PLAIN}$PASSWORD::::::"; done > "$dir/passwd"
  chown -R nobody:nogroup "$ENGINE_DATA/mail" "$dir/home"
  chmod o+x "$WORK" "$ENGINE_DATA"
  {
    cat <<CONF
base_dir = $dir/run
instance_name = engine-perf-$port
state_dir = $dir/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = $dir/dovecot.log
mail_location = maildir:$ENGINE_DATA/mail/%d/%n
default_vsz_limit = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dir/home/%d/%n
}
CONF
    printf '%s\n' "$@"
  } > "$dir/dovecot.conf"
}
