#!/usr/bin/env bash
# @respond ^(?:count|counter)(?:\s+(reset))?$
# @help count - count how often this was asked, per person and in all (kept in the bot's brain)
# @help count reset - start counting again
# Keeps its numbers in the bot's store through `wirebot brain`: they survive
# restarts, and `incr` is atomic, so two people counting at once lose nothing.
set -euo pipefail
if [[ "${1:-}" == "reset" ]]; then
  for key in $(wirebot brain list); do wirebot brain del "$key"; done
  echo "Counters reset."
  exit 0
fi
mine=$(wirebot brain incr "user:$WIREBOT_USER_ID")
all=$(wirebot brain incr total)
# The global namespace is shared by every script.
wirebot brain --global set last-counter "$WIREBOT_USER"
echo "$WIREBOT_USER, you have counted $mine times; everyone together $all times."
