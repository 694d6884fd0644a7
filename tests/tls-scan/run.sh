#!/usr/bin/env bash
# testssl.sh (Debian's package) against the engine's TLS listeners on loopback: submission with TLS first
# (465's role), IMAP and POP3 with TLS first (993, 995), and STARTTLS on submission (587). It reports the
# protocols and ciphers each offers; the engine's default is TLS 1.2 and 1.3 with forward-secret AEAD suites.
# Not part of tests/run.sh (a scan takes minutes per port). Run by hand, as root:
#   tests/tls-scan/run.sh                  # builds the engine (Release), scans, prints a summary
#   SKIP_BUILD=1 tests/tls-scan/run.sh
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/perf/out/testssl-$(date +%Y%m%d-%H%M%S)
DATA=$(mktemp -d /tmp/engine-testssl.XXXXXX)
ENGINE_DLL=${ENGINE_DLL:-$REPO/src/Engine.Host/bin/Release/net10.0/engine.dll}
mkdir -p "$OUT"

command -v testssl >/dev/null || { apt-get install -y -q testssl.sh >/dev/null || { echo "cannot install testssl.sh" >&2; exit 1; }; }
[[ ${SKIP_BUILD:-0} == 1 ]] || dotnet build -c Release "$REPO/src/Engine.Host" > "$OUT/build.log" 2>&1

dotnet "$ENGINE_DLL" --set "engine.data-dir=\"$DATA\"" --set "engine.hostname=mx.test" \
  --set 'engine.smtp.listen=["127.0.0.1:3525"]' \
  --set 'engine.submission.listen=["127.0.0.1:3587"]' --set 'engine.submission.listen-tls=["127.0.0.1:3465"]' \
  --set 'engine.imap.listen=["127.0.0.1:3143"]' --set 'engine.imap.listen-tls=["127.0.0.1:3993"]' \
  --set 'engine.pop3.listen=["127.0.0.1:3110"]' --set 'engine.pop3.listen-tls=["127.0.0.1:3995"]' > "$OUT/engine.log" 2>&1 &
ENGINE=$!
trap 'kill $ENGINE 2>/dev/null; wait $ENGINE 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/3995) 2>/dev/null && break; sleep 0.5; done

scan() { # NAME ARGS...
  local name=$1; shift
  testssl --quiet --color 0 --warnings batch --sneaky -p -s -f "$@" > "$OUT/$name.txt" 2>&1 || true
  echo "== $name"
  grep -E '^ (SSLv2|SSLv3|TLS 1 |TLS 1.1|TLS 1.2|TLS 1.3)' "$OUT/$name.txt" | sed 's/^ */   /'
  grep -E '(NULL ciphers|Anonymous NULL|Export ciphers|LOW: 64 Bit|Triple DES|Obsoleted CBC|Strong encryption)' "$OUT/$name.txt" | sed 's/^ */   /'
}
scan submission-465 127.0.0.1:3465
scan submission-587-starttls --starttls smtp 127.0.0.1:3587
scan imaps-993 127.0.0.1:3993
scan pop3s-995 127.0.0.1:3995
echo "== full reports in $OUT"
