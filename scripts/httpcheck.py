#!/usr/bin/env python3
# @respond ^(?:http|check) (https?://\S+)$
# @help check <url> - fetch a URL and report its HTTP status and response time
# @timeout 20s
import sys
import time
import urllib.error
import urllib.request

url = sys.argv[1]
req = urllib.request.Request(url, method="GET", headers={"User-Agent": "wirebot-httpcheck"})
start = time.monotonic()
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read(65536)
        status, reason = resp.status, resp.reason
except urllib.error.HTTPError as e:
    status, reason = e.code, e.reason
except (urllib.error.URLError, OSError) as e:
    reason = getattr(e, "reason", e)
    print(f"{url} is DOWN: {reason}")
    sys.exit(0)
ms = (time.monotonic() - start) * 1000
state = "UP" if status < 400 else "DOWN"
print(f"{url} is {state}: {status} {reason} in {ms:.0f} ms")
