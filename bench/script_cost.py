#!/usr/bin/env python3
"""What the counting script (src/windows/count.lua) costs Redis per report, stage by stage.

Sends batches of 16 reports straight to Redis with EVALSHA (no downwatch, no HTTP), each report
from a new reporter, address and network with its own rate-limit state, as the ingest
benchmark's crowd is; then reads Redis's own time per call from INFO commandstats and, when
Redis runs on this machine, the CPU its process used (which also counts reading the calls'
arguments and writing their answers, 1.5-4 µs a report, and freeing memory). The stages are the
script cut short after each of its parts (arguments, decisions, counts and dedup entries, cap
times, rate states), so the differences say what each part costs; last, a floor: a script given
the same arguments that only dedups each reporter (one HSETNX) and counts the new ones. Then
the whole script with one part of the decisions left out (the shared rate, the caps, the dedup
lookups): what the whole costs more is what that part costs.

Run: `python3 bench/script_cost.py [script]` (REDIS_URL's host and port, default
127.0.0.1:6379; keys under a prefix of its own, removed); `script` is another version of
count.lua to measure, e.g. one `git show` wrote out, for an A/B in turns.
"""

import os
import socket
import sys
import struct
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "src", "windows", "count.lua")
REPORTS = 16
CALLS = 2000


class Redis:
    """The little of RESP this needs: commands as arrays of bulk strings, replies parsed."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379))
        self.buf = self.sock.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.buf.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.buf.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")


def stages(script):
    """The script, and the script cut short after each part (by its own comments)."""
    def cut_before(marker, returned):
        at = script.index(marker)
        return script[:at] + f"do return {returned} end\n" + script[at:]
    return [
        ("arguments read", cut_before("local out = {}\nfor at = FIRST", "{}")),
        ("+ every report decided", cut_before("-- The counts, summed per minute", "out")),
        ("+ counts and dedup entries written", cut_before("-- ...the cap times", "out")),
        ("+ cap times written", cut_before("-- ...and the rate-limit states.", "out")),
        ("+ rate states written (the whole script)", script),
    ]


def without_parts(script):
    """The whole script with one part of each report's decision left out, so that what the
    whole costs more says what that part costs (its reads, bookkeeping and writes). Each cut is
    a line of count.lua, and the tool stops if one is not found: change both together."""
    cuts = [
        ("- the shared rate", "local waited = rate > 0 and", "local waited = false and"),
        ("- the caps", "elseif caps_now > 0 then", "elseif false then"),
        ("- the dedup lookups (counted_before)",
         "local seen, taken = counted_before(",
         "local seen, taken = (function() return false, false end)("),
    ]
    variants = []
    for name, line, replacement in cuts:
        if line not in script:
            sys.exit(f"script_cost: the line {line!r} is not in the script; update the cut")
        variants.append((name, script.replace(line, replacement, 1)))
    return variants


# The least a counting call can cost Redis with the same arguments: each reporter deduplicated
# by one HSETNX, the new ones counted by one HINCRBY a call; no caps, no rate, no breakdown.
FLOOR = """
local counted = 0
for at = 8, #ARGV, 6 do
  if redis.call('HSETNX', KEYS[3], ARGV[at + 1], '') == 1 then counted = counted + 1 end
end
redis.call('HINCRBY', KEYS[1], 't', counted)
return counted
"""


def batch(prefix, call):
    # Each dedup hash is followed by its legacy twin (absent here, as after an upgrade).
    names = ("b", "m", "r1", "d1", "r0", "d0", "l1", "l0")
    keys = [f"{prefix}:{{svc:x}}:{name}" for name in names]
    keys += [f"{prefix}:{{rl:{i}}}:{call}" for i in range(REPORTS)]
    # Dedup window and cap window 1 h, retention 48 h, caps 6 and 18, a rate that never binds.
    argv = ["3600000", "172800", "3600000", "6", "18", "1", "100000000"]
    now = 1764770000000 + call
    for i in range(REPORTS):
        numbers = struct.pack("<qHHHHHHH", now, 1, 2, 3, 5, 7, 8, 9 + i)
        argv += [numbers, os.urandom(14), "login", "US", b"a" + os.urandom(16),
                 b"n" + os.urandom(16)]
    return keys, argv


def process_cpu(redis):
    """A function returning the CPU seconds Redis's process has used, or None when Redis does
    not run on this machine."""
    info = redis.call("INFO", "server").decode()
    pid = int(info.split("process_id:")[1].split()[0])
    stat = f"/proc/{pid}/stat"
    if not os.path.exists(stat):
        return None

    def used():
        with open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def main():
    redis = Redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    prefix = f"dwscript-{os.getpid()}"
    cpu = process_cpu(redis)
    print(f"count.lua, {REPORTS} reports a call, {CALLS} calls a stage; Redis's own time"
          + (", and its process's CPU:" if cpu else ":"))
    script = sys.argv[1] if len(sys.argv) > 1 else SCRIPT
    floor = ("floor: HSETNX a report, HINCRBY a call", FLOOR)
    text = open(script).read()
    for name, text in stages(text) + without_parts(text) + [floor]:
        sha = redis.call("SCRIPT", "LOAD", text)
        calls = [batch(prefix, call) for call in range(CALLS)]
        redis.call("CONFIG", "RESETSTAT")
        before = cpu() if cpu else 0.0
        for keys, argv in calls:
            redis.call("EVALSHA", sha, len(keys), *keys, *argv)
        used = cpu() - before if cpu else None
        stats = redis.call("INFO", "commandstats").decode()
        line = next(l for l in stats.splitlines() if l.startswith("cmdstat_evalsha:"))
        per_call = float(line.split("usec_per_call=")[1].split(",")[0])
        process = f", process {used * 1e6 / (CALLS * REPORTS):5.1f}" if cpu else ""
        print(f"  {name:42} {per_call:7.1f} µs a call, {per_call / REPORTS:5.1f} µs a report"
              + process)
        cursor = b"0"
        while True:
            cursor, keys = redis.call("SCAN", cursor, "MATCH", f"{prefix}:*", "COUNT", 10000)
            if keys:
                redis.call("UNLINK", *keys)
            if cursor == b"0":
                break


if __name__ == "__main__":
    main()
