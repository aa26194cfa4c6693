#!/usr/bin/env bash
# @cron */5 * * * * #ops
# @respond ^diskwatch$
# @help diskwatch - file systems over the alert threshold (checked every 5 minutes; silent while all is well)
# Silent until broken: on its schedule it prints nothing (so posts nothing)
# unless a file system is fuller than DISK_ALERT_PERCENT (default 90; set it
# in scripts.env). Asked in chat, it also says when all is well.
set -euo pipefail
limit=${DISK_ALERT_PERCENT:-90}
full=$(df -P -x tmpfs -x devtmpfs -x overlay -x squashfs 2>/dev/null | awk -v limit="$limit" '
  NR > 1 { use = $5; sub("%", "", use); if (use + 0 >= limit) printf "%s is %s%% full (%s free) on %s\n", $6, use, $4, $1 }')
if [[ -n "$full" ]]; then
  echo "Disk alert on $(hostname) (threshold ${limit}%):"
  echo "$full"
elif [[ "${WIREBOT_TRIGGER:-chat}" != "cron" ]]; then
  echo "All file systems on $(hostname) are below ${limit}%."
fi
