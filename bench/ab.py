#!/usr/bin/env python3
"""Two builds of downwatch compared on ingest, in alternating rounds (A B, B A, A B, ...).

The machine is shared and its speed moves within the hour, so one run of each says little: each
round starts one build on a fresh process, measures the bare POST (the ceiling) and then the
build with `bench/wrk/ingest.lua` (the distinct crowd), with the CPU that downwatch and Redis
spent per report. Load, environment and clean-up are bench/run.py's (BENCH_DURATION and
BENCH_CONNECTIONS apply).

    python3 bench/ab.py BEFORE AFTER [ROUNDS]

BEFORE and AFTER are the paths of two `downwatch` binaries (release builds: build one commit,
copy target/release/downwatch aside, build the other). The bare server is
target/release/examples/bare (`cargo build --release --example bare`).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (  # noqa: E402  (the full suite's pieces)
    BARE_PORT, PORT, ROOT, TARGET, clean_up, instance_env, local_redis_pid, wait_for, wrk,
)


def one_round(binary, env, bare_base, redis_pid):
    """(reports/s, times the bare POST, downwatch µs a report, Redis µs a report)."""
    process = subprocess.Popen([binary, "serve"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{PORT}"
        wait_for(base + "/readyz", binary, process)
        ceiling = wrk(bare_base + "/v1/reports", "ingest.lua")["rps"]
        ingest = wrk(base + "/v1/reports", "ingest.lua",
                     watch=[("downwatch", process.pid), ("redis", redis_pid)])
    finally:
        process.terminate()
        process.wait()
    cpu = ingest["cpu_us"]
    return ingest["rps"], ingest["rps"] / ceiling, cpu["downwatch"], cpu["redis"]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    builds = {"before": sys.argv[1], "after": sys.argv[2]}
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    env = instance_env("ab")
    redis_pid = local_redis_pid()
    bare = subprocess.Popen([os.path.join(TARGET, "release", "examples", "bare"),
                             f"127.0.0.1:{BARE_PORT}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bare_base = f"http://127.0.0.1:{BARE_PORT}"
    results = {name: [] for name in builds}
    try:
        wait_for(bare_base + "/", "the bare server", bare)
        for r in range(rounds):
            for name in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                figures = one_round(builds[name], env, bare_base, redis_pid)
                results[name].append(figures)
                rps, ratio, downwatch, redis = figures
                print(f"round {r + 1} {name}: {rps:,.0f} reports/s ({ratio:.2f}x bare), "
                      f"downwatch {downwatch:.1f} µs, Redis {redis:.1f} µs a report", flush=True)
    finally:
        bare.terminate()
        clean_up(env)
    for name, runs in results.items():
        rps, ratio, downwatch, redis = (sum(run[i] for run in runs) / len(runs) for i in range(4))
        print(f"{name}: {rps:,.0f} reports/s, {ratio:.2f}x bare, downwatch {downwatch:.1f} µs, "
              f"Redis {redis:.1f} µs a report (mean of {len(runs)})")


if __name__ == "__main__":
    main()
