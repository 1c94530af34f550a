#!/usr/bin/env bash
# Runs etcd 3.4.23's own e2e suite (tests/e2e of Debian's golang-etcd-server-dev
# sources) against Conclave: every v3 test a single server can pass. See
# docs/etcd-e2e.md for what is left out and why, and the latest results.
#
#   bash scripts/etcd-e2e/run.sh              # the selected tests (tests.txt)
#   bash scripts/etcd-e2e/run.sh 'TestCtlV3Put$|TestCtlV3Get$'   # a -test.run regexp instead
#   bash scripts/etcd-e2e/run.sh --list       # the selected test names
#   bash scripts/etcd-e2e/run.sh --etcd [regexp]   # the same against the real etcd 3.4.23
#
# Installs golang-go, golang-etcd-server-dev and etcd-client with apt when
# missing; builds the suite offline in GOPATH mode (Debian's sources, no
# module proxy) into the gitignored scripts/etcd-e2e/work/, again whenever the
# Go version or the package version changes; builds Conclave's bundle. Then
# runs the test binary with -bin-dir holding etcdctl and ./etcd (the wrapper
# that starts Conclave), one test at a time, each in its own test process.
# Extra arguments after the regexp go to the test binary. Output:
# work/last-run.log.
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
# --etcd: run the same tests against the real etcd 3.4.23 (Debian's
# etcd-server), the reference for every failure.
server=conclave
if [ "${1:-}" = "--etcd" ]; then
  server=etcd
  shift
fi

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -f "$src/tests/e2e/main_test.go" ] || need+=(golang-etcd-server-dev)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ "$server" = conclave ] || command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
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
# The wrapper runs a copy of the bundle, so a rebuild while the suite runs
# cannot change the server half-way (packages still resolve from the
# repository's node_modules).
mkdir -p "$work/dist"
cp "$root/apps/server/dist/conclave.mjs" "$root/apps/server/dist/conclave.mjs.map" "$work/dist/"
export CONCLAVE_BUNDLE="$work/dist/conclave.mjs"

# The layout the suite expects around its working directory: -bin-dir with
# etcd and etcdctl; ../../integration/fixtures (the default -cert-dir, and the
# path the JWT tests hard-code for their keys).
bin="$work/bin"
ln -sfn "$here/etcd" "$bin/etcd"
ln -sfn "$(command -v etcdctl)" "$bin/etcdctl"
if [ "$server" = etcd ]; then
  bin="$work/bin-etcd"
  mkdir -p "$bin"
  ln -sfn "$(command -v etcd)" "$bin/etcd"
  ln -sfn "$(command -v etcdctl)" "$bin/etcdctl"
fi
ln -sfn "$src/integration/fixtures" "$work/integration/fixtures"

if [ $# -gt 0 ]; then
  tests=("$1")
  shift
else
  mapfile -t tests < <(selected | sed 's/.*/^&$/')
fi

# One test binary per test: a test that fails half-way may leave its server
# running (some of etcd's tests close their cluster only on success), and it
# must not take the next test's port. The pty closes when the binary exits,
# which ends the wrapper and its Conclave.
cd "$work/tests/e2e"
log="$work/last-run.log"
: >"$log"
start=$(date +%s)
status=0
for t in "${tests[@]}"; do
  rc=0
  "$work/e2e.test" -test.v -test.parallel 1 -test.timeout 10m -bin-dir "$bin" \
    -test.run "$t" "$@" 2>&1 | tee -a "$log" || rc=$?
  if ((rc != 0)); then
    # A binary can exit non-zero without a FAIL line (a panic, a signal): name it.
    echo "--- EXIT $rc: $t" | tee -a "$log"
    status=1
  fi
  # The servers of a test that failed half-way end with it (above); wait
  # until their ports (the suite's 20000-20039) are free for the next test.
  for _ in $(seq 100); do
    ss -Htln 'sport >= :20000 and sport <= :20039' | grep -q . || break
    sleep 0.1
  done
done
pass=$(grep -caE '^--- PASS: ' "$log" || true)
fail=$(grep -caE '^--- FAIL: ' "$log" || true)
echo "etcd e2e against $server: $pass passed, $fail failed in $(($(date +%s) - start)) s"
grep -aE '^--- (FAIL: |EXIT )' "$log" || true
exit "$status"
