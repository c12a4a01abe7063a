#!/usr/bin/env bash
# natterd and ngircd side by side, in one run, on loopback only.
#
# Runs S1 (one big room, full speed), S3 (latency at 1000 msg/s) and S4
# (idle memory, 100 rooms x 100 members) of natter-load against natterd
# over its own protocol, natterd over IRC (its IRC listener, PASS by
# token) and ngircd, the last two with the same client speaking the same
# IRC, first with the server pinned to core 0 and the generator to core 1,
# then unpinned, and prints one table with the figures and the ratios
# natterd/ngircd and natterd-IRC/ngircd. S10 (S1 with reactions instead of messages) runs on natterd alone,
# IRC having no reactions, and prints beside S1 what a reaction costs to
# fan out against a message. Installs ngircd (Debian package) when it is missing. Every run is
# bounded in time; the servers are stopped on exit.
#
# Usage: server/bench/compare.sh         (about 12 minutes on 2 cores)
# Tunables: SECS (seconds of sending per run, default 10), NATTER_PORT,
# NATTER_IRC_PORT, IRC_PORT (ngircd's), S1_WINDOW (messages in flight per sender, default 16),
# S4_ROOMS (rooms of 100 idle members, default 20). ngircd holds each new
# connection back for 4 s and accepts only 15-40 connections a second once
# thousands are open, so S4_ROOMS=100 (10,000 connections) takes it about
# ten minutes a run; `natter-load s4` alone measures natterd at 10,000.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${SECS:-10}
NATTER_PORT=${NATTER_PORT:-17878}
IRC_PORT=${IRC_PORT:-16667}
NATTER_IRC_PORT=${NATTER_IRC_PORT:-16668}
S1_WINDOW=${S1_WINDOW:-16}
S4_ROOMS=${S4_ROOMS:-20}
OPER=bench:natter-load-bench

if ! command -v ngircd >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing ngircd"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends ngircd
  # The package starts a system-wide ngircd where it can; this script runs
  # its own on a private port.
fi
ngircd=$(command -v ngircd || echo /usr/sbin/ngircd)

echo "== building (release)"
cargo build --release -q -p natter-server -p natter-load
natterd=target/release/natterd
load=target/release/natter-load

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 20500 ]; then
  echo "note: open-file limit $(ulimit -n); S4 needs 10,000 sockets per process" >&2
fi

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

echo "== provisioning natterd (10,000 bench users)"
"$load" provision --data-dir "$work/natterd" --users 10000 >/dev/null
printf '\n[irc]\nlisten = "127.0.0.1:%s"\n' "$NATTER_IRC_PORT" >>"$work/natterd/bench.toml"

"$load" ngircd-config --port "$IRC_PORT" --oper "$OPER" >"$work/ngircd.conf"

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  return 1
}

# start_server natterd|natterd-irc|ngircd pinned|unpinned
start_server() {
  local pin=()
  [ "$2" = pinned ] && pin=(taskset -c 0)
  case $1 in
    natterd|natterd-irc)
      "${pin[@]}" "$natterd" --data-dir "$work/natterd" --config "$work/natterd/bench.toml" \
        --listen "127.0.0.1:$NATTER_PORT" >"$work/natterd.log" 2>&1 &
      server_pid=$!
      wait_port "$NATTER_PORT"
      wait_port "$NATTER_IRC_PORT" ;;
    ngircd)
      "${pin[@]}" "$ngircd" -n -f "$work/ngircd.conf" >"$work/ngircd.log" 2>&1 &
      server_pid=$!
      wait_port "$IRC_PORT" ;;
  esac
}

declare -A R
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# run SERVER PIN SCENARIO ARGS...: one bounded natter-load run; its result
# line's fields land in R[SERVER,PIN,SCENARIO,KEY].
run() {
  local server=$1 pin=$2 scenario=$3; shift 3
  local gen=() target
  [ "$pin" = pinned ] && gen=(taskset -c 1)
  case $server in
    natterd) target=(--proto natter --server "127.0.0.1:$NATTER_PORT") ;;
    natterd-irc) target=(--proto irc --server "127.0.0.1:$NATTER_IRC_PORT" --irc-token) ;;
    ngircd) target=(--proto irc --server "127.0.0.1:$IRC_PORT" --oper "$OPER") ;;
  esac
  echo "-- $server $pin $scenario $*"
  local out
  if ! out=$(timeout 300 "${gen[@]}" "$load" "$scenario" "${target[@]}" --pid "$server_pid" "$@" 2>&1); then
    echo "$out" >&2
    echo "compare.sh: $scenario against $server ($pin) failed" >&2
    exit 1
  fi
  echo "$out" | grep -v '^result:' | sed 's/^/   /'
  local line kv
  line=$(echo "$out" | grep '^result:' | tail -1)
  for kv in $line; do
    case $kv in *=*) R[$server,$pin,$scenario,${kv%%=*}]=${kv#*=} ;; esac
  done
}

for pin in pinned unpinned; do
  for server in natterd natterd-irc ngircd; do
    start_server "$server" "$pin"
    run "$server" "$pin" s1 --secs "$SECS" --window "$S1_WINDOW"
    if [ "$server" = natterd ]; then
      run "$server" "$pin" s10 --secs "$SECS" --window "$S1_WINDOW"
    fi
    run "$server" "$pin" s3 --secs "$SECS"
    stop_server
    # A fresh server each time, so the idle figure is not what earlier
    # runs left. RSS moves with the allocator's luck by a few hundred bytes
    # a connection from one run to the next: the median of three.
    rss=() socks=()
    for _ in 1 2 3; do
      start_server "$server" "$pin"
      run "$server" "$pin" s4 --rooms "$S4_ROOMS"
      stop_server
      rss+=("${R[$server,$pin,s4,rss_per_conn_b]}")
      socks+=("${R[$server,$pin,s4,sock_per_conn_b]}")
    done
    R[$server,$pin,s4,rss_per_conn_b]=$(median "${rss[@]}")
    R[$server,$pin,s4,sock_per_conn_b]=$(median "${socks[@]}")
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "-" }'; }
us_ms() { awk -v v="$1" 'BEGIN { printf "%.3f ms", v / 1000 }'; }

echo
echo "natterd vs ngircd, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "S1: 1 room x 1000 members, 10 senders, window $S1_WINDOW, ${SECS} s; S3: 1 room x 100 members, 1000 msg/s open loop, ${SECS} s; S4: $S4_ROOMS rooms x 100 members idle"
printf '%-9s %-8s %-22s %12s %12s %12s %7s %7s\n' pinning scenario metric natterd natterd-irc ngircd n/ngircd irc/ngircd
fmt() { # kind value
  case $1 in
    rate) printf '%.0f' "$2" ;;
    us) printf '%.3f us' "$2" ;;
    lat) us_ms "$2" ;;
    bytes) awk -v v="$2" 'BEGIN { printf "%.2f KB", v / 1024 }' ;;
  esac
}
row() { # pin scenario label key kind
  local pin=$1 sc=$2 label=$3 key=$4 kind=$5 a i b
  a=${R[natterd,$pin,${sc,,},$key]:-0}
  i=${R[natterd-irc,$pin,${sc,,},$key]:-0}
  b=${R[ngircd,$pin,${sc,,},$key]:-0}
  printf '%-9s %-8s %-22s %12s %12s %12s %7s %7s\n' "$pin" "$sc" "$label" \
    "$(fmt "$kind" "$a")" "$(fmt "$kind" "$i")" "$(fmt "$kind" "$b")" "$(ratio "$a" "$b")" "$(ratio "$i" "$b")"
}
for pin in pinned unpinned; do
  row $pin S1 "deliveries/s" deliveries_per_s rate
  row $pin S1 "server CPU/delivery" cpu_us us
  row $pin S1 "latency p99" p99_us lat
  row $pin S3 "latency p50" p50_us lat
  row $pin S3 "latency p99" p99_us lat
  row $pin S3 "latency p99.9" p999_us lat
  row $pin S4 "server RSS/connection" rss_per_conn_b bytes
  row $pin S4 "kernel sockets/conn" sock_per_conn_b bytes
done
for pin in pinned unpinned; do
  printf '%-9s %-8s %-24s %14.0f %14s %8s\n' "$pin" S10 "reactions/s delivered" \
    "${R[natterd,$pin,s10,deliveries_per_s]:-0}" "(S1: $(printf '%.0f' "${R[natterd,$pin,s1,deliveries_per_s]:-0}"))" \
    "$(ratio "${R[natterd,$pin,s10,deliveries_per_s]:-0}" "${R[natterd,$pin,s1,deliveries_per_s]:-0}")"
  printf '%-9s %-8s %-24s %14s %14s %8s\n' "$pin" S10 "server CPU/delivery" \
    "$(printf '%.3f us' "${R[natterd,$pin,s10,cpu_us]:-0}")" "(S1: $(printf '%.3f us' "${R[natterd,$pin,s1,cpu_us]:-0}"))" \
    "$(ratio "${R[natterd,$pin,s10,cpu_us]:-0}" "${R[natterd,$pin,s1,cpu_us]:-0}")"
done
echo "S1 ratio natterd/ngircd: $(ratio "${R[natterd,pinned,s1,deliveries_per_s]}" "${R[ngircd,pinned,s1,deliveries_per_s]}")"
echo "S1 ratio natterd over IRC/ngircd: $(ratio "${R[natterd-irc,pinned,s1,deliveries_per_s]}" "${R[ngircd,pinned,s1,deliveries_per_s]}")"
