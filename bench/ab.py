#!/usr/bin/env python3
"""Two builds of downwatch compared on ingest, in alternating rounds (A B, B A, A B, ...).

The machine is shared and its speed moves within the hour, so one run of each says little: each
round starts one build on a fresh process, measures the bare POST (the ceiling) and then the
build under `wrk -t2 -c64 -d15s` with `bench/wrk/ingest.lua` (the distinct crowd, the rate limit
raised as in bench/run.py), with the CPU that downwatch and Redis spent per report.

    python3 bench/ab.py BEFORE AFTER [ROUNDS]

BEFORE and AFTER are the paths of two `downwatch` binaries (release builds: build one commit,
copy target/release/downwatch aside, build the other). The bare server is
target/release/examples/bare (`cargo build --release --example bare`). DATABASE_URL's server
and REDIS_URL's Redis (the local ones by default) hold the run's own database and key prefix,
dropped at the end.
"""

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import clean_up  # noqa: E402  (the full suite's: drops the database and the keys)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
PORT, BARE_PORT = 18080, 18081


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_pid():
    port = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379").rsplit(":", 1)[1].split("/")[0]
    return int(subprocess.check_output(["pgrep", "-f", f"redis-server.*:{port}"]).split()[0])


def wait_for(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"ab: {url} did not answer")


def wrk(url, watch):
    """Reports a second and, per name in `watch`, that pid's CPU µs a request."""
    before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    out = subprocess.run(
        ["wrk", "-t2", "-c64", "-d15s", "-s", "bench/wrk/ingest.lua", url],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return per_second, {
        name: (cpu_seconds(pid) - before[name]) / requests * 1e6 for name, pid in watch.items()
    }


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    builds = {"before": sys.argv[1], "after": sys.argv[2]}
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x").rsplit("/", 1)[0]
    tag = uuid.uuid4().hex[:8]
    env = dict(
        os.environ,
        DATABASE_URL=f"{server}/downwatch_ab_{tag}",
        DOWNWATCH_REDIS_PREFIX=f"dwab-{tag}",
        DOWNWATCH_BIND=f"127.0.0.1:{PORT}",
        DOWNWATCH_TRUSTED_PROXIES="127.0.0.1/32",
        DOWNWATCH_RATE_PER_MINUTE="1000000",
        DOWNWATCH_RATE_BURST="1000000",
        RUST_LOG="warn",
    )
    bare = subprocess.Popen([os.path.join(TARGET, "release", "examples", "bare"),
                             f"127.0.0.1:{BARE_PORT}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {name: [] for name in builds}
    try:
        wait_for(f"http://127.0.0.1:{BARE_PORT}/")
        for r in range(rounds):
            for name in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                server_process = subprocess.Popen([builds[name], "serve"], cwd=ROOT, env=env,
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL)
                try:
                    wait_for(f"http://127.0.0.1:{PORT}/readyz")
                    ceiling, _ = wrk(f"http://127.0.0.1:{BARE_PORT}/v1/reports", {})
                    ingest, cpu = wrk(f"http://127.0.0.1:{PORT}/v1/reports",
                                      {"downwatch": server_process.pid, "redis": redis_pid()})
                finally:
                    server_process.terminate()
                    server_process.wait()
                results[name].append((ingest, ingest / ceiling, cpu["downwatch"], cpu["redis"]))
                print(f"round {r + 1} {name}: {ingest:,.0f} reports/s, bare {ceiling:,.0f}/s "
                      f"({ingest / ceiling:.2f}x), downwatch {cpu['downwatch']:.1f} µs, "
                      f"Redis {cpu['redis']:.1f} µs a report", flush=True)
    finally:
        bare.terminate()
        clean_up(env)
    for name, runs in results.items():
        mean = [sum(run[i] for run in runs) / len(runs) for i in range(4)]
        print(f"{name}: {mean[0]:,.0f} reports/s, {mean[1]:.2f}x bare, downwatch {mean[2]:.1f} µs, "
              f"Redis {mean[3]:.1f} µs a report (mean of {len(runs)})")


if __name__ == "__main__":
    main()
