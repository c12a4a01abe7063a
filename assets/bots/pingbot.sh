#!/usr/bin/env bash
# A natter bot in the shell: reads a room as a stream of JSON lines with
# `natter tail --json`, and answers with `natter --send`.
#   !ping      -> pong, NAME
#   !uptime    -> the host's uptime
# Usage: NATTER_USER=pingbot NATTER_TOKEN=$(natterd token create pingbot) \
#            assets/bots/pingbot.sh '#bots'
# Needs jq. Live messages only: --last 0 skips the history.
set -euo pipefail
room=${1:?usage: pingbot.sh ROOM}
me=${NATTER_USER:?set NATTER_USER to the bot account}
natter tail "$room" --json --last 0 |
  while IFS= read -r line; do
    from=$(jq -r '.from // empty' <<<"$line")
    body=$(jq -r '.body // empty' <<<"$line")
    [ -n "$from" ] && [ "$from" != "$me" ] || continue
    case "$body" in
      '!ping') natter --send "$room" "pong, $from" ;;
      '!uptime') natter --send "$room" "$(uptime -p)" ;;
    esac
  done
