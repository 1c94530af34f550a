#!/usr/bin/env bash
# Runs every check and test of the repository. Installs the system tools the
# wire tests drive (etcdctl from Debian's etcd-client; etcd itself from
# etcd-server, the reference the differential tests compare against; openssl
# and curl for TLS; PostgreSQL for the PostgreSQL storage tests) when they are
# missing. A suite that cannot find its tool fails; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
# The TLS tests make their certificates with openssl and fetch with curl.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The client churn test runs a Go program built on Debian's etcd clientv3 sources.
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -f /usr/share/gocode/src/go.etcd.io/etcd/clientv3/client.go ] || need+=(golang-etcd-server-dev)
# The dashboard's browser tests drive Debian's Chromium (never a downloaded browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
# testkit's startPostgres runs Debian's PostgreSQL, whose initdb is not on PATH
# but in /usr/lib/postgresql/<version>/bin. The package may start a system
# cluster on :5432; harmless: the tests start their own clusters on free ports.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
# Debian's etcd-server package may start a system etcd on :2379; the tests use
# their own ports, but stop it so it cannot be mistaken for ours.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi

[ -d node_modules ] || npm install --no-audit --no-fund

export PATH="$PWD/node_modules/.bin:$PATH"

echo "== generated code is up to date"
buf lint
buf generate
git diff --exit-code -- packages/proto/src/gen || {
  echo "packages/proto/src/gen is stale: run 'npm run generate' and commit" >&2
  exit 1
}

echo "== lint and format"
biome check .

echo "== typecheck"
turbo run typecheck --output-logs=errors-only

echo "== build the dashboard (served at / by the server; the browser tests load it)"
npm run -s build -w @conclave/dashboard -- --logLevel warn

echo "== tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
turbo run test --concurrency=1 --output-logs=full 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole repository, summed over every package's
# node:test summary ("ℹ pass N" / "ℹ fail N").
passed=$(grep -aoE 'ℹ pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
failed=$(grep -aoE 'ℹ fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
if [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  status=1
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
