#!/usr/bin/env bash
# S1 A/B between two builds of natterd, interleaved so that drift on the
# machine (other load, thermal state) falls on both alike.
#
# Usage: server/bench/ab.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [ROUNDS]
#   e.g. git worktree add /tmp/old <rev> && (cd /tmp/old && cargo build
#        --release -p natter-server -p natter-load)
#        server/bench/ab.sh /tmp/old/target/release target/release 3
# Each build runs against its own freshly provisioned data dir (1100 bench
# users: S1's room of 1000), the server pinned to core 0 and the generator
# to core 1, SECS seconds of S1 at window S1_WINDOW. Prints deliveries per
# second and server CPU per delivery for every run; compare the columns.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
old=$1 new=$2 rounds=${3:-3}
SECS=${SECS:-6}
S1_WINDOW=${S1_WINDOW:-16}
PORT=${NATTER_PORT:-18111}
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
for v in old new; do
  dir=$old; [ $v = new ] && dir=$new
  "$dir/natter-load" provision --data-dir "$work/$v" --users 1100 >/dev/null
done
printf '%-5s %-6s %16s %12s\n' build round deliveries/s cpu_us
for round in $(seq "$rounds"); do
  for v in old new; do
    dir=$old; [ $v = new ] && dir=$new
    taskset -c 0 "$dir/natterd" --data-dir "$work/$v" --config "$work/$v/bench.toml" \
      --listen "127.0.0.1:$PORT" >"$work/$v.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    line=$(timeout 120 taskset -c 1 "$dir/natter-load" s1 --proto natter --server "127.0.0.1:$PORT" \
      --pid "$pid" --secs "$SECS" --window "$S1_WINDOW" 2>&1 | grep '^result:' || true)
    rate=$(echo "$line" | grep -o 'deliveries_per_s=[0-9]*' | cut -d= -f2)
    cpu=$(echo "$line" | grep -o 'cpu_us=[0-9.]*' | cut -d= -f2)
    printf '%-5s %-6s %16s %12s\n' "$v" "$round" "${rate:-failed}" "${cpu:-?}"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done
