#!/usr/bin/env bash
# Files on loopback: upload and download throughput of one file with
# natterd's CPU per MiB (`natter-load files`), then S3 (chat latency at
# 1000 msg/s in a room of 100) alone and S11 (the same while another
# account uploads a 1 GiB file over and over on its transfer connection),
# side by side. The issue's bar: S11's latency within 2x of S3's.
#
# Usage: server/bench/files.sh        (about 2 minutes on 2 cores)
# Tunables: SECS (seconds per latency run, default 10), MIB (the
# throughput file, default 512), FILE_MIB (S11's file, default 1024),
# NATTER_PORT. Runs unpinned: the upload's client, the chat client and
# natterd share the machine, as they would on a laptop.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${SECS:-10}
MIB=${MIB:-512}
FILE_MIB=${FILE_MIB:-1024}
NATTER_PORT=${NATTER_PORT:-17880}

echo "== building (release)"
cargo build --release -q -p natter-server -p natter-load
natterd=target/release/natterd
load=target/release/natter-load

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

"$load" provision --data-dir "$work/natterd" --users 1200 >/dev/null
"$natterd" --data-dir "$work/natterd" --config "$work/natterd/bench.toml" \
  --listen "127.0.0.1:$NATTER_PORT" >"$work/natterd.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$NATTER_PORT") 2>/dev/null; then break; fi
  sleep 0.1
done
target=(--proto natter --server "127.0.0.1:$NATTER_PORT" --pid "$server_pid")

echo "== files: $MIB MiB up and down"
timeout 300 "$load" files "${target[@]}" --mib "$MIB"
echo "== S3 alone"
timeout 300 "$load" s3 "${target[@]}" --secs "$SECS" | grep -E 'latency|result'
echo "== S11: S3 beside a $FILE_MIB MiB upload, over and over"
timeout 600 "$load" s11 "${target[@]}" --secs "$SECS" --file-mib "$FILE_MIB" | grep -E 'upload|latency|result'
echo "blobs: $(du -sh "$work/natterd/blobs" | cut -f1) in $work/natterd/blobs"
