#!/usr/bin/env python3
# @respond ^(?:dns|resolve) ([A-Za-z0-9.-]+)$
# @help dns <host> - the addresses a host name resolves to
# @timeout 15s
import socket
import sys

host = sys.argv[1]
try:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
except socket.gaierror as e:
    print(f"{host}: cannot resolve ({e.strerror})")
    sys.exit(0)
addrs = sorted({info[4][0] for info in infos}, key=lambda a: (":" in a, a))
print(f"{host}: " + ", ".join(addrs))
