#!/usr/bin/env bash
# `natter --send` one-shot: process start to exit, on loopback, logging in
# with the session token kept in the kernel keyring (what a CI job that ran
# `natter login` once does on every later send). Prints each run's time and
# the median, p90 and max.
#
# Usage: server/bench/oneshot.sh [RUNS]     (default 50; needs keyutils)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-50}

command -v keyctl >/dev/null || { echo "oneshot.sh needs keyctl (apt-get install keyutils)" >&2; exit 1; }
cargo build --release -q -p natter-server -p natter
bin=$PWD/target/release
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password='correct horse battery staple'
echo "$password" | "$bin/natterd" --data-dir "$work/data" user add ci >/dev/null
"$bin/natterd" --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/natterd.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

# A private session keyring, so the token lives and dies with this run.
export HOME=$work/home NATTER_SERVER=127.0.0.1:$port NATTER_USER=ci NATTER_KEYRING=keyutils
mkdir -p "$HOME"
keyctl session - bash -c '
  set -euo pipefail
  NATTER_PASSWORD="$1" "$2/natter" login >/dev/null
  for i in $(seq "$3"); do
    start=$(date +%s%N)
    "$2/natter" --send "#general" "build $i passed"
    echo $(( ($(date +%s%N) - start) / 1000 ))
  done
' _ "$password" "$bin" "$RUNS" | sort -n >"$work/times"

awk '{ t[NR] = $1 } END {
  printf "natter --send, %d runs, keyring token, loopback: median %.2f ms, p90 %.2f ms, max %.2f ms\n",
    NR, t[int((NR + 1) / 2)] / 1000, t[int(NR * 0.9 + 0.5)] / 1000, t[NR] / 1000 }' "$work/times"
