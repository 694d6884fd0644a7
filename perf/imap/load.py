#!/usr/bin/env python3
"""IMAP load generator for perf/imap/run.sh (Python's asyncio, no other package).

  load.py mix  PORT USERS CLIENTS SECONDS PASSWORD   -> JSON: commands/s and latency percentiles per command
  load.py idle PORT USERS CONNECTIONS HOLD PASSWORD  -> opens CONNECTIONS sessions (LOGIN, SELECT, IDLE), prints
                                                        "ready" when all are in IDLE, holds them HOLD seconds
  load.py select PORT USER 0 0 PASSWORD              -> JSON: seconds for LOGIN, and for SELECT INBOX, and EXISTS

In "mix", each client logs in once as user<n>@local.test (clients spread over USERS), then loops until SECONDS
have passed: SELECT INBOX, FETCH of 10 messages' headers, FETCH of one whole message, STORE +FLAGS \\Seen,
STORE -FLAGS \\Seen, SEARCH UNSEEN, and IDLE ended at once by DONE. Every command's time, from writing it to
reading its tagged reply, is recorded.
"""
import asyncio
import json
import random
import re
import sys
import time

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Session:
    def __init__(self, reader, writer):
        self.reader, self.writer, self.n = reader, writer, 0

    async def read_line(self):
        """One response line, literals included."""
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("closed")
        while (m := LITERAL.search(line)):
            line += await self.reader.readexactly(int(m.group(1)))
            line += await self.reader.readline()
        return line

    async def command(self, text):
        self.n += 1
        tag = b"c%d" % self.n
        self.writer.write(tag + b" " + text + b"\r\n")
        await self.writer.drain()
        lines = []
        while True:
            line = await self.read_line()
            lines.append(line)
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(f"{text!r}: {line!r}")
                return lines

    async def idle(self):
        self.n += 1
        tag = b"c%d" % self.n
        self.writer.write(tag + b" IDLE\r\n")
        await self.writer.drain()
        while not (await self.read_line()).startswith(b"+"):
            pass
        self.writer.write(b"DONE\r\n")
        await self.writer.drain()
        while not (line := await self.read_line()).startswith(tag + b" "):
            pass
        if not line[len(tag) + 1:].startswith(b"OK"):
            raise RuntimeError(f"IDLE: {line!r}")


async def connect(port, user, password):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
    s = Session(reader, writer)
    await s.read_line()
    await s.command(b'LOGIN user%d@local.test "%s"' % (user, password.encode()))
    return s


async def mix_client(port, user, password, deadline, stats):
    s = await connect(port, user, password)
    exists = 0

    async def timed(name, coro):
        t = time.perf_counter()
        result = await coro
        stats.setdefault(name, []).append(time.perf_counter() - t)
        return result

    while time.perf_counter() < deadline:
        lines = await timed("SELECT", s.command(b"SELECT INBOX"))
        for line in lines:
            if line.endswith(b" EXISTS\r\n"):
                exists = int(line.split()[1])
        if exists == 0:
            raise RuntimeError("empty INBOX")
        first = random.randint(1, max(1, exists - 9))
        await timed("FETCH headers", s.command(b"FETCH %d:%d (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])" % (first, first + 9)))
        one = random.randint(1, exists)
        await timed("FETCH body", s.command(b"FETCH %d BODY.PEEK[]" % one))
        await timed("STORE", s.command(b"STORE %d +FLAGS (\\Seen)" % one))
        await timed("STORE", s.command(b"STORE %d -FLAGS (\\Seen)" % one))
        await timed("SEARCH", s.command(b"SEARCH UNSEEN"))
        await timed("IDLE", s.idle())
    await s.command(b"LOGOUT")
    s.writer.close()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else 0


async def mix(port, users, clients, seconds, password):
    stats = {}
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(mix_client(port, 1 + c % users, password, deadline, stats) for c in range(clients)))
    elapsed = time.perf_counter() - start
    everything = [v for values in stats.values() for v in values]
    result = {
        "seconds": round(elapsed, 3),
        "commands": len(everything),
        "commands_per_s": round(len(everything) / elapsed, 1),
        "p50_ms": round(percentile(everything, 50) * 1000, 3),
        "p99_ms": round(percentile(everything, 99) * 1000, 3),
        "by_command": {name: {"count": len(v), "p50_ms": round(percentile(v, 50) * 1000, 3), "p99_ms": round(percentile(v, 99) * 1000, 3)}
                       for name, v in sorted(stats.items())},
    }
    print(json.dumps(result))


async def idle(port, users, connections, hold, password):
    sessions = []
    for batch in range(0, connections, 200):
        sessions += await asyncio.gather(*(connect(port, 1 + c % users, password) for c in range(batch, min(connections, batch + 200))))
    for s in sessions:
        await s.command(b"SELECT INBOX")
        s.n += 1
        s.writer.write(b"c%d IDLE\r\n" % s.n)
    for s in sessions:
        await s.writer.drain()
        while not (await s.read_line()).startswith(b"+"):
            pass
    print("ready", flush=True)
    await asyncio.sleep(hold)
    for s in sessions:
        s.writer.close()


async def select(port, user, password):
    t0 = time.perf_counter()
    s = await connect(port, user, password)
    t1 = time.perf_counter()
    lines = await s.command(b"SELECT INBOX")
    t2 = time.perf_counter()
    exists = next(int(line.split()[1]) for line in lines if line.endswith(b" EXISTS\r\n"))
    await s.command(b"LOGOUT")
    print(json.dumps({"login_s": round(t1 - t0, 3), "select_s": round(t2 - t1, 3), "exists": exists}))


if __name__ == "__main__":
    mode, port, users, count, seconds, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    if mode == "select":
        asyncio.run(select(port, users, password))
    else:
        asyncio.run(mix(port, users, count, seconds, password) if mode == "mix" else idle(port, users, count, seconds, password))
