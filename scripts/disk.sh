#!/usr/bin/env bash
# @respond ^(?:disk|df)(?:\s+(\S+))?$
# @help disk [path] - free space of the file system holding path (default /)
# @timeout 15s
set -euo pipefail
path=${1:-/}
# The path is one argument after "--": whatever was typed, df sees a path.
if ! out=$(df -hP -- "$path" 2>&1); then
  echo "cannot read disk usage of $path: ${out##*: }" >&2
  exit 1
fi
echo "$out" | awk 'NR == 2 { printf "%s: %s used of %s (%s), %s free, mounted on %s\n", $1, $3, $2, $5, $4, $6 }'
