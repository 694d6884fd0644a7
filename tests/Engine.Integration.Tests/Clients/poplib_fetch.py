#!/usr/bin/env python3
"""Logs in over POP3 with Python's poplib and prints what the maildrop holds, as JSON.

usage: poplib_fetch.py PORT USER PASSWORD [dele]
Prints {"stat": [count, octets], "list": [...], "uidl": [...], "top": <hex of TOP 1 0>, "messages": [<hex>...]};
with "dele" the first message is deleted before QUIT.
"""
import json
import poplib
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pop = poplib.POP3("127.0.0.1", port, timeout=30)
pop.user(user)
pop.pass_(password)
count, octets = pop.stat()
_, listing, _ = pop.list()
_, uidl, _ = pop.uidl()
result = {
    "stat": [count, octets],
    "list": [l.decode() for l in listing],
    "uidl": [l.decode() for l in uidl],
    "top": b"\r\n".join(pop.top(1, 0)[1]).hex() if count else "",
    # poplib strips the CRLF of each line and the dot-stuffing: join back with CRLF to compare octets.
    "messages": [(b"\r\n".join(pop.retr(i)[1]) + b"\r\n").hex() for i in range(1, count + 1)],
}
if len(sys.argv) > 4 and sys.argv[4] == "dele" and count:
    pop.dele(1)
print(json.dumps(result))
pop.quit()
