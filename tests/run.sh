#!/usr/bin/env bash
# Runs every test of the engine. Installs from Debian's packages what the tests need when it is missing
# (swaks; python3 for smtplib and poplib; dnsmasq as the DNS server for MX tests; Postfix for smtp-sink, installed
# unconfigured so that it does not start, and run by the policy tests as an instance of their own; fetchmail
# as a POP3 client; Dovecot as a second reader of the Maildirs, run by the tests from their own config; Postgrey
# as an external policy server; PostgreSQL, run by the tests as a server of their own made with initdb; strace, to see
# that a 250 follows the fsync of the journal; mutt, a third reader of the Maildirs), then builds
# in Release and runs both test projects.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
[ -x /usr/sbin/smtp-sink ] || need+=(postfix)
command -v fetchmail >/dev/null 2>&1 || need+=(fetchmail)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -x /usr/sbin/postgrey ] || need+=(postgrey)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v mutt >/dev/null 2>&1 || need+=(mutt)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

dotnet build Engine.sln -c Release -nologo -v quiet
# Formatting is part of the build's rules (.editorconfig).
dotnet format Engine.sln --verify-no-changes --no-restore
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Engine.sln -c Release --no-build -nologo 2>&1 | tee "$log" || status=$?

# One closing line for the whole run, summed over the test projects.
awk '/(Passed|Failed)! +- +Failed:/ { gsub(",", ""); f += $4; p += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
