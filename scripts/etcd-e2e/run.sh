#!/usr/bin/env bash
# Runs etcd 3.4.23's own e2e suite (tests/e2e of Debian's golang-etcd-server-dev
# sources) against Conclave: every v3 test a single server can pass. See
# docs/etcd-e2e.md for what is left out and why, and the latest results.
#
#   bash scripts/etcd-e2e/run.sh              # the selected tests (tests.txt)
#   bash scripts/etcd-e2e/run.sh 'TestCtlV3Put$|TestCtlV3Get$'   # a -test.run regexp
#   bash scripts/etcd-e2e/run.sh --list       # the selected test names
#
# Installs golang-go, golang-etcd-server-dev and etcd-client with apt when
# missing; builds the suite offline in GOPATH mode (Debian's sources, no
# module proxy) into the gitignored scripts/etcd-e2e/work/, again whenever the
# Go version or the package version changes; builds Conclave's bundle. Then
# runs the test binary with -bin-dir holding etcdctl and ./etcd (the wrapper
# that starts Conclave), one test at a time. Extra arguments after the regexp
# go to the test binary (e.g. -test.count 1). Output: work/last-run.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$here/work"
src=/usr/share/gocode/src/go.etcd.io/etcd
pkg=go.etcd.io/etcd/tests/e2e

# The selection: one test name per line in tests.txt (comments after #).
selected() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/tests.txt" | grep -v '^$'; }
if [ "${1:-}" = "--list" ]; then
  selected
  exit 0
fi

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -f "$src/tests/e2e/main_test.go" ] || need+=(golang-etcd-server-dev)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi

mkdir -p "$work/bin" "$work/integration" "$work/tests/e2e"
# GOPATH mode, offline: Debian ships etcd 3.4 and its dependencies as GOPATH
# sources, not modules, and there is no module proxy to fall back on.
export GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOFLAGS="" GOPROXY=off GOTOOLCHAIN=local
export GOCACHE="$work/gocache"
stamp="$(go version) $(dpkg-query -W -f='${Version}' golang-etcd-server-dev 2>/dev/null || echo unknown)"
if [ ! -x "$work/e2e.test" ] || [ "$(cat "$work/e2e.test.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "building etcd's e2e suite ($pkg, ~2 min the first time)"
  (cd "$src/tests/e2e" && go test -c -o "$work/e2e.test.tmp" "$pkg")
  mv "$work/e2e.test.tmp" "$work/e2e.test"
  printf '%s' "$stamp" >"$work/e2e.test.stamp"
fi

(cd "$root" && npm run -s build -w @conclave/server-app)

# The layout the suite expects around its working directory: -bin-dir with
# etcd and etcdctl; ../../integration/fixtures (the default -cert-dir, and the
# path the JWT tests hard-code for their keys).
ln -sfn "$here/etcd" "$work/bin/etcd"
ln -sfn "$(command -v etcdctl)" "$work/bin/etcdctl"
ln -sfn "$src/integration/fixtures" "$work/integration/fixtures"

if [ $# -gt 0 ]; then
  pattern="$1"
  shift
else
  pattern="^($(selected | paste -sd'|'))\$"
fi

cd "$work/tests/e2e"
start=$(date +%s)
set +e
"$work/e2e.test" -test.v -test.parallel 1 -test.timeout 60m -bin-dir "$work/bin" \
  -test.run "$pattern" "$@" 2>&1 | tee "$work/last-run.log"
status=${PIPESTATUS[0]}
set -e
pass=$(grep -cE '^--- PASS: ' "$work/last-run.log" || true)
fail=$(grep -cE '^--- FAIL: ' "$work/last-run.log" || true)
echo "etcd e2e against Conclave: $pass passed, $fail failed in $(($(date +%s) - start)) s"
grep -E '^--- FAIL: ' "$work/last-run.log" || true
exit "$status"
