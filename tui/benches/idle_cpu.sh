#!/bin/sh
# Idle CPU and arrival-to-screen of the real full-screen client, in tmux.
#
#   cargo build --release -p natter-server -p natter
#   sh tui/benches/idle_cpu.sh            # IDLE=30 for a longer idle window
#
# 1. `natter --local` (server in the same process): CPU time and context
#    switches over IDLE seconds of doing nothing.
# 2. A separate natterd with the client logged in as alice: the same for
#    each process, then bob sends messages with `natter --send` and the time
#    from that process's exit (the server has stored and fanned out the
#    message) to the text on alice's screen is measured by polling tmux.
#
# Everything lives in a temporary HOME and a private tmux socket; nothing
# is left behind.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/target/release
IDLE=${IDLE:-10}
WORK=$(mktemp -d)
SOCKET=natter-idle-$$
PASSWORD='correct horse battery'
HZ=$(getconf CLK_TCK)
SERVER_PID=

cleanup() {
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for b in natter natterd; do
    [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: cargo build --release -p natter-server -p natter" >&2; exit 1; }
done

# user+system CPU of a process in ms, from /proc/PID/stat (fields 14, 15).
cpu_ms() {
    sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$HZ" '{ printf "%d", ($12 + $13) * 1000 / hz }'
}
# On-CPU time of all its threads in us, from schedstat (ns resolution).
run_us() {
    cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s / 1000 }'
}
# Context switches of all its threads (each wake-up is at least one).
switches() {
    cat /proc/"$1"/task/*/status | awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s }'
}
snapshot() { echo "$(cpu_ms "$1") $(run_us "$1") $(switches "$1")"; }
report() { # name pid "before"
    set -- "$1" "$2" $3 $(snapshot "$2")
    echo "$1: ${IDLE} s idle: $(($6 - $3)) ms CPU (stat), $(($7 - $4)) us on CPU (schedstat), $(($8 - $5)) context switches"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tmux_wait() { # text, seconds
    end=$(($(date +%s) + $2))
    until tmux -L "$SOCKET" capture-pane -p | grep -qF -- "$1"; do
        [ "$(date +%s)" -lt "$end" ] || { echo "timed out waiting for '$1'" >&2; tmux -L "$SOCKET" capture-pane -p >&2; exit 1; }
        sleep 0.05
    done
}

client_env="HOME=$WORK/home LANG=C.UTF-8 TERM=xterm-256color NATTER_KEYRING=none PATH=/usr/bin:/bin"
mkdir -p "$WORK/home"

# ---- 1. natter --local --------------------------------------------------
tmux -L "$SOCKET" new-session -d -x 120 -y 40 "env -i $client_env $BIN/natter --local --user alice"
tmux_wait "connected as alice" 30
PID=$(tmux -L "$SOCKET" list-panes -F '#{pane_pid}')
[ "$(cat /proc/"$PID"/comm)" = natter ] || PID=$(pgrep -P "$PID" -x natter)
sleep 1
before=$(snapshot "$PID")
sleep "$IDLE"
report "natter --local (client + in-process server)" "$PID" "$before"
tmux -L "$SOCKET" kill-server
sleep 0.5

# ---- 2. natterd + natter -------------------------------------------------
PORT=$(free_port)
DATA=$WORK/data
for u in alice bob; do
    echo "$PASSWORD" | "$BIN/natterd" --data-dir "$DATA" user add "$u" >/dev/null
done
"$BIN/natterd" --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$WORK/natterd.log" 2>&1 &
SERVER_PID=$!
sleep 0.5
tmux -L "$SOCKET" new-session -d -x 120 -y 40 \
    "env -i $client_env NATTER_PASSWORD='$PASSWORD' $BIN/natter --server 127.0.0.1:$PORT --user alice"
tmux_wait "connected as alice" 30
PID=$(tmux -L "$SOCKET" list-panes -F '#{pane_pid}')
[ "$(cat /proc/"$PID"/comm)" = natter ] || PID=$(pgrep -P "$PID" -x natter)
sleep 1
before=$(snapshot "$PID")
server_before=$(snapshot "$SERVER_PID")
sleep "$IDLE"
report "natter (client only)" "$PID" "$before"
report "natterd (one idle session)" "$SERVER_PID" "$server_before"

# One capture costs a few ms (a tmux process), which bounds the resolution.
start=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8 9 10; do tmux -L "$SOCKET" capture-pane -p | grep -qF -- "no such text" || true; done
echo "one screen capture: $((($(date +%s%N) - start) / 10000)) us"
for i in 1 2 3 4 5; do
    text="arrival-check-$i-$$"
    env -i $client_env NATTER_PASSWORD="$PASSWORD" \
        "$BIN/natter" --server "127.0.0.1:$PORT" --user bob --send '#general' "$text"
    sent=$(date +%s%N)
    polls=1
    until tmux -L "$SOCKET" capture-pane -p | grep -qF -- "$text"; do polls=$((polls + 1)); done
    seen=$(date +%s%N)
    echo "message $i: on alice's screen $(((seen - sent) / 1000)) us after bob's send returned ($polls screen captures)"
    sleep 0.3
done
