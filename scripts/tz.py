#!/usr/bin/env python3
# @respond ^time(?:\s+(?:in\s+)?(\S+))?$
# @help time [zone] - the time now in a zone such as Europe/Paris or UTC (default: UTC and the bot's zone)
import sys
from datetime import datetime, timezone

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # Python < 3.9
    print("time needs Python 3.9 or newer")
    sys.exit(1)

FMT = "%Y-%m-%d %H:%M:%S %Z (UTC%z)"
zone = sys.argv[1] if len(sys.argv) > 1 else ""
now = datetime.now(timezone.utc)
if not zone:
    print("UTC: " + now.strftime(FMT))
    print("here: " + now.astimezone().strftime(FMT))
    sys.exit(0)
try:
    tz = ZoneInfo(zone)
except (ZoneInfoNotFoundError, ValueError):
    print(f"I don't know the time zone {zone!r}; try one like Europe/Paris, America/New_York or UTC.")
    sys.exit(0)
print(f"{zone}: " + now.astimezone(tz).strftime(FMT))
