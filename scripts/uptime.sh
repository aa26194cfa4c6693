#!/usr/bin/env bash
# @respond ^(?:uptime|load)$
# @help uptime - how long this host has been up, and its load averages
set -euo pipefail
read -r up _ < /proc/uptime
secs=${up%.*}
days=$((secs / 86400)); hours=$((secs % 86400 / 3600)); mins=$((secs % 3600 / 60))
read -r l1 l5 l15 _ < /proc/loadavg
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
echo "$(hostname) up ${days}d ${hours}h ${mins}m, load ${l1} ${l5} ${l15} (${cores} cores)"
