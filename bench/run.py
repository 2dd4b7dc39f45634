#!/usr/bin/env python3
"""The benchmark suite behind BENCHMARKS.md; run it through bench/run.sh.

Builds release binaries, starts downwatch (own database and Redis prefix) and the bare
companion server side by side, drives both with wrk, and writes BENCHMARKS.md from what it
measured. Every figure is also given as a ratio to the bare server measured in the same run:
the machine is shared and noisy, ratios travel better than absolute numbers.

Environment: BENCH_DURATION (wrk run length, default 15s), BENCH_CONNECTIONS (default 64; the
ingest runs also at BENCH_WIDE_CONNECTIONS, default 256), BENCH_FACEBOOK_SPEED (the Facebook
replay's scenario seconds per real second, default 10; 0 sends unpaced), BENCH_FACEBOOK_SCALE
(its volume, default 1: the record's), DATABASE_URL's server and REDIS_URL as for downwatch
itself (defaults: the local ones), CARGO_TARGET_DIR as for cargo. BENCH_SKIP_HISTORY=1 leaves
out the reads over 97 seeded days (the slowest part). BENCH_ONLY=reads measures
only the bare GET and the reads without the read cache with the release binaries already
built, prints them and leaves BENCHMARKS.md alone. BENCH_ONLY=facebook replays only the Facebook
record (its history seeded first) and rewrites only that section. BENCH_ONLY=cluster measures only the bare
POST, ingest on one Redis server and ingest through 1, 2 and 3 instances on a Redis Cluster of
three masters (started here on free ports), and rewrites only that section of BENCHMARKS.md.
"""

import datetime
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Cargo's target directory (CARGO_TARGET_DIR when set, as cargo itself does).
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
OUT = os.path.join(TARGET, "bench")
DURATION = os.environ.get("BENCH_DURATION", "15s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
WIDE_CONNECTIONS = int(os.environ.get("BENCH_WIDE_CONNECTIONS", "256"))
THREADS = 2
FLOOD_CONNECTIONS = 128
CATALOG_SIZE = 1000
FACEBOOK_SCALE = float(os.environ.get("BENCH_FACEBOOK_SCALE", "1"))
FACEBOOK_SPEED = float(os.environ.get("BENCH_FACEBOOK_SPEED", "10"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
ONLY = os.environ.get("BENCH_ONLY", "")


def free_port():
    """A port nothing listens on now (so a stray server cannot answer in our place)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PORT = free_port()
BARE_PORT = free_port()


def run(cmd, env=None, quiet=False):
    """Runs a command, returns its standard output; fails loudly with its output."""
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    if not quiet:
        print(result.stdout, end="")
    return result.stdout + result.stderr


def millis(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, script=None, watch=(), profile=None, connections=CONNECTIONS, clients=None):
    """One wrk run; `watch` maps names to pids whose CPU time per request is measured, and
    `profile` is a pid to sample with perf during the run (when perf works here). `clients`
    runs that many threads of one connection each instead."""
    threads, connections = (clients, clients) if clients else (THREADS, connections)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", DURATION, "--latency"]
    if script:
        cmd += ["-s", os.path.join(ROOT, "bench", "wrk", script)]
    before = {name: cpu_seconds(pid) for name, pid in watch}
    load = subprocess.Popen(cmd + [url], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    sampled = perf_profile(profile) if profile else None
    out, err = load.communicate()
    if load.returncode != 0:
        sys.exit(f"bench: wrk failed:\n{out}\n{err}")
    after = {name: cpu_seconds(pid) for name, pid in watch}
    figures = parse_wrk(out)
    figures["cpu_us"] = {
        name: (after[name] - before[name]) / figures["requests"] * 1e6 for name in after
    }
    if sampled:
        figures["profile"] = sampled
    return figures


def parse_wrk(out):
    """Requests/s, p50 and p99 (ms), non-2xx, requests, and the script's tally of answers."""
    latency = {
        p: millis(v, u)
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    figures = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency["50"],
        "p99": latency["99"],
        "non2xx": int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }
    # What the scripts tally of the answers (ingest.lua: accepted/other; flood.lua: rendered/busy/other).
    for name, value in re.findall(r"^(accepted|rendered|busy|other) (\d+)$", out, re.M):
        figures[name] = int(value)
    return figures


def perf_profile(pid):
    """Where a process spends its time (kernel, its own code, libc), from a 5-second perf
    sample; None when perf is missing or not allowed here."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(OUT, "ingest.perf")
    time.sleep(2)
    sample = subprocess.run(["perf", "record", "-F", "499", "-p", str(pid), "-o", data, "--",
                             "sleep", "5"], capture_output=True, text=True)
    if sample.returncode != 0:
        return None
    report = subprocess.run(["perf", "report", "-i", data, "--sort", "dso", "--stdio"],
                            capture_output=True, text=True).stdout
    shares = {}
    for share, dso in re.findall(r"^\s+([\d.]+)%\s+(\S+)", report, re.M):
        shares[dso] = float(share)
    return shares


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_for(url, what, process):
    for _ in range(300):
        if process.poll() is not None:
            sys.exit(f"bench: {what} exited early (see target/bench/)")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"bench: {what} did not come up at {url}")


def instance_env(name):
    """downwatch's environment for a run: a database and a Redis prefix of its own (named
    `name` and a random tag; `clean_up` drops them), on PORT, the rate limit raised so that wrk's
    crowd is never limited, warnings only."""
    tag = uuid.uuid4().hex[:8]
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/downwatch")
    server = server.rsplit("/", 1)[0]
    return dict(
        os.environ,
        DATABASE_URL=f"{server}/downwatch_{name}_{tag}",
        DOWNWATCH_REDIS_PREFIX=f"dw{name}-{tag}",
        DOWNWATCH_BIND=f"127.0.0.1:{PORT}",
        DOWNWATCH_TRUSTED_PROXIES="127.0.0.1/32",
        DOWNWATCH_RATE_PER_MINUTE="1000000",
        DOWNWATCH_RATE_BURST="1000000",
        RUST_LOG="warn",
    )


def local_redis_pid():
    """The pid of the Redis at REDIS_URL, whose CPU the ingest runs read from /proc."""
    info = subprocess.run(["redis-cli", "-u", REDIS_URL, "info", "server"],
                          capture_output=True, text=True).stdout
    pid = int(info.split("process_id:")[1].split()[0])
    if not os.path.exists(f"/proc/{pid}"):
        sys.exit(f"bench: Redis at {REDIS_URL} is not on this machine; its CPU cannot be read")
    return pid


def counted(slug, port=None):
    """Reports Redis holds for `slug` over the last hour (the bench's own prefix only)."""
    buckets = get_json(f"http://127.0.0.1:{port or PORT}/v1/services/{slug}/minutes")
    return sum(b["total"] for b in buckets)


def metric(base, series):
    """The value of one series (name and labels, as /metrics writes it) of an instance, 0 if
    it has none yet."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(series)} ([\d.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def batch_totals(base):
    """Counting calls made and reports they carried so far, from an instance's /metrics."""
    return {name: metric(base, f"downwatch_redis_batch_reports_{name}") for name in ("sum", "count")}


def ingest(base, port, redis_pid, downwatch_pid, connections=CONNECTIONS):
    """One wrk ingest run against an instance, with what its Redis counted during it and the
    reports each counting call carried."""
    before, calls_before = counted("chatgpt", port), batch_totals(base)
    figures = wrk(base + "/v1/reports", "ingest.lua", connections=connections,
                  watch=[("downwatch", downwatch_pid), ("redis", redis_pid)])
    time.sleep(1)  # requests cut off at the end of the run may still land
    figures["redis"] = counted("chatgpt", port) - before
    calls_after = batch_totals(base)
    calls = calls_after["count"] - calls_before["count"]
    figures["per_call"] = (calls_after["sum"] - calls_before["sum"]) / calls if calls else 0.0
    return figures


def start_aof_redis():
    """A Redis of the bench's own with AOF on (`appendfsync everysec`), and its process."""
    port = free_port()
    directory = os.path.join(OUT, f"aof-{port}")
    os.makedirs(directory, exist_ok=True)
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--appendfsync", "everysec", "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                              text=True).stdout.strip()
        if ping == "PONG":
            return f"redis://127.0.0.1:{port}", process, directory
        time.sleep(0.1)
    sys.exit("bench: the AOF Redis did not come up")


def write_catalog(path, size):
    """The shipped catalog's services plus generated ones, `size` in all."""
    shipped = open(os.path.join(ROOT, "catalog", "services.toml")).read()
    existing = len(re.findall(r"^\[\[service\]\]", shipped, re.M))
    lines = [shipped]
    for i in range(size - existing):
        lines.append(
            f'\n[[service]]\nslug = "bench-service-{i:04d}"\nname = "Bench service {i}"\n'
            f'category = "bench"\nprovider = "bench-provider-{i % 50:02d}"\n'
        )
    with open(path, "w") as f:
        f.write("".join(lines))


def machine():
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"Model name:\s+(.+)", run(["lscpu"], quiet=True)).group(1).strip()
    except Exception:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {
        "rustc": run(["rustc", "--version"], quiet=True).strip(),
        "redis": run(["redis-server", "--version"], quiet=True).split()[2],
        "postgres": run(["psql", "--version"], quiet=True).strip(),
        # wrk prints its version with its usage and exits 1.
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        .stdout.splitlines()[0].split(" [")[0].strip(),
    }
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}", versions


def main():
    os.makedirs(OUT, exist_ok=True)
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (apt-get install wrk)")
    if ONLY not in ("reads", "flood"):
        print("bench: building release binaries")
        run(["cargo", "build", "--release", "--bin", "downwatch", "--example", "bare"], quiet=True)
    env = instance_env("bench")
    binary = os.path.join(TARGET, "release", "downwatch")
    catalog = os.path.join(OUT, f"catalog-{CATALOG_SIZE}.toml")
    write_catalog(catalog, CATALOG_SIZE)
    run([binary, "services", "import", catalog], env=env)
    if ONLY in ("", "facebook"):
        seed_replay_history(env)
    history = ONLY in ("", "reads") and not os.environ.get("BENCH_SKIP_HISTORY")
    if history:
        seed_read_history(env)
    log = open(os.path.join(OUT, "downwatch.log"), "w")
    downwatch = subprocess.Popen([binary, "serve"], cwd=ROOT, env=env, stdout=log, stderr=log)
    bare = subprocess.Popen(
        [os.path.join(TARGET, "release", "examples", "bare"), f"127.0.0.1:{BARE_PORT}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = {}
    try:
        wait_for(f"http://127.0.0.1:{PORT}/readyz", "downwatch", downwatch)
        wait_for(f"http://127.0.0.1:{BARE_PORT}/", "the bare server", bare)
        base, bare_base = f"http://127.0.0.1:{PORT}", f"http://127.0.0.1:{BARE_PORT}"
        print(f"bench: wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} per run")
        if history:
            try:
                results["readings-seconds"] = wait_for_readings(env)
            except SystemExit as failed:
                # Said in the report instead of ending the run: the other figures still stand.
                results["reads-failed"] = str(failed)
        if ONLY == "reads":
            if not history:
                sys.exit("bench: BENCH_ONLY=reads measures the reads over seeded history; "
                         "unset BENCH_SKIP_HISTORY")
            if "reads-failed" in results:
                sys.exit(results["reads-failed"])
            results["bare-get"] = wrk(bare_base + "/v1/services/chatgpt/curve")
            results.update(reads_without_cache(binary, env, log))
            print_reads(results)
            return
        if ONLY == "flood":
            print_flood(read_flood(binary, env, log))
            return
        if ONLY == "facebook":
            lines = ["## The largest outage on record", ""] + facebook_lines(
                replay_facebook(binary, env, base), dated=True)
            print("\n".join(lines))
            replace_section(lines)
            return
        redis_pid = local_redis_pid()
        results["bare-post"] = wrk(bare_base + "/v1/reports", "ingest.lua",
                                   watch=[("bare", bare.pid)])
        results["ingest"] = ingest(base, PORT, redis_pid, downwatch.pid)
        results["cluster"] = cluster_ingest(binary, env, log)
        if ONLY == "cluster":
            print_cluster(results)
            replace_section(cluster_lines(results))
            return
        results["bare-post-wide"] = wrk(bare_base + "/v1/reports", "ingest.lua",
                                        watch=[("bare", bare.pid)], connections=WIDE_CONNECTIONS)
        results["ingest-wide"] = ingest(base, PORT, redis_pid, downwatch.pid,
                                        connections=WIDE_CONNECTIONS)
        results["ingest-aof"] = ingest_with_aof(binary, env, log)
        # A second run under perf, apart: sampling costs CPU the measured run must not lose.
        results["ingest-profile"] = wrk(base + "/v1/reports", "ingest.lua",
                                        profile=downwatch.pid).get("profile")
        results["bare-get"] = wrk(bare_base + "/v1/services/chatgpt/curve")
        results["curve-15m"] = wrk(base + "/v1/services/chatgpt/curve?step=15m")
        if not history:
            results["reads-failed"] = "skipped: BENCH_SKIP_HISTORY"
        if "reads-failed" not in results:
            results.update(reads_without_cache(binary, env, log))
        results["read-flood"] = read_flood(binary, env, log)
        results["curve-1m"] = wrk(base + "/v1/services/chatgpt/curve?step=1m")
        services = len(get_json(base + "/v1/services")["services"])
        results["status"] = wrk(base + "/v1/status")
        results["status"]["services"] = services
        results["simulate"] = replay_facebook(binary, env, base)
    finally:
        downwatch.terminate()
        bare.terminate()
        downwatch.wait(timeout=30)
        bare.wait(timeout=30)
        clean_up(env)
    print("bench: Redis memory per bucket")
    memory = run(["cargo", "bench", "--bench", "redis_memory"], quiet=True)
    results["memory"] = {
        key: int(re.search(pattern + r": (\d+)", memory).group(1))
        for key, pattern in [
            ("bucket", r"bytes per active service-minute bucket"),
            ("dedup", r"bytes per dedup entry \(one per[^:]*"),
            ("dedup-crowd", r"bytes per dedup entry at a million reporters[^:]*"),
        ]
    }
    print("bench: group commit alone")
    grouped = run(["cargo", "bench", "--bench", "group_commit"], quiet=True)
    results["group-commit"] = [
        {"concurrency": int(c), "rate": float(rate), "per_call": float(per_call),
         "allocations": float(allocations)}
        for c, rate, per_call, allocations in re.findall(
            r"group commit at (\d+) concurrent: ([\d.]+) reports/s, ([\d.]+) reports per call"
            r"[^,]*, ([\d.]+) allocations per report", grouped)
    ]
    print("bench: model throughput (criterion)")
    model = run(["cargo", "bench", "--bench", "model"], quiet=True)
    results["model"] = parse_criterion(model)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    write_report(results)
    print("bench: wrote BENCHMARKS.md")


# Days of 15-minute bins seeded for the reads without the read cache (a 90-day curve and the
# week before it).
SEEDED_DAYS = 97

SEED_BINS = """
SELECT downwatch_ensure_bin_partitions((now() - interval '{days} days')::date, now()::date);
INSERT INTO report_bins (service_id, bin_start, total)
SELECT s.id, t, greatest(0, round(40 + 25 * sin(2 * pi() * extract(epoch FROM t) / 86400)
                                  + 10 * random()))::int
FROM services s, generate_series(
    to_timestamp(floor(extract(epoch FROM now()) / 86400) * 86400) - interval '{days} days',
    to_timestamp(floor(extract(epoch FROM now()) / 900) * 900) - interval '15 minutes',
    interval '15 minutes') t
WHERE s.slug = 'chatgpt'
ON CONFLICT (service_id, bin_start) DO UPDATE SET total = greatest(report_bins.total, excluded.total);
INSERT INTO rollup_progress (id, complete_before)
VALUES (true, to_timestamp(floor(extract(epoch FROM now()) / 900) * 900))
ON CONFLICT (id) DO UPDATE SET complete_before = excluded.complete_before;
"""


def seed_read_history(env):
    """97 days of chatgpt's bins, seeded before the instance starts so that its monitor reads
    them from its first tick. (Seeded under a monitor already running, bins older than its
    readings would wait for the next day: it looks the oldest bin up once a day.)"""
    psql = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", env["DATABASE_URL"]]
    run(psql + ["-c", SEED_BINS.format(days=SEEDED_DAYS)], quiet=True)


def wait_for_readings(env):
    """Waits until the monitor has stored its readings of every seeded bin; returns the
    seconds it took. Measured before any load, so the reading does not share the CPU with it."""
    psql = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", env["DATABASE_URL"]]
    # As on a service that has been running: rolled up to now, and every bin read.
    read = ("SELECT coalesce(readings_from <= (SELECT min(bin_start) FROM report_bins)"
            " AND readings_before >= now() - interval '45 minutes', false) FROM rollup_progress")
    started = time.time()
    while run(psql + ["-c", read], quiet=True).strip() != "t":
        if time.time() - started > 300:
            sys.exit("bench: the monitor did not read the seeded history in 5 minutes")
        time.sleep(1)
    return time.time() - started


def reads_without_cache(binary, env, log):
    """Curves with the read cache off, over the 97 days of seeded bins the monitor has read:
    the 24-hour curve at 15 minutes under load (as a ratio to the bare GET), and the 90-day
    curve at one hour from one client (its p50)."""
    port = free_port()
    # Every request renders: no shared answers, and the bounds on renderings (per client and at
    # once) opened to the load generator's connections.
    uncached = subprocess.Popen(
        [binary, "serve"], cwd=ROOT, stdout=log, stderr=log,
        env=dict(env, DOWNWATCH_BIND=f"127.0.0.1:{port}", DOWNWATCH_READ_CACHE_MS="0",
                 DOWNWATCH_HEAVY_READS=str(CONNECTIONS), DOWNWATCH_READ_BURST="1000000",
                 DOWNWATCH_READ_RATE_PER_MINUTE="1000000"),
    )
    figures = {}
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", "the uncached instance", uncached)
        base = f"http://127.0.0.1:{port}/v1/services/chatgpt/curve"
        figures["curve-15m-uncached"] = wrk(base + "?step=15m", watch=[("downwatch", uncached.pid)])
        since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=89, hours=23))
        figures["curve-90d-uncached"] = wrk(
            base + "?step=1h&from=" + since.strftime("%Y-%m-%dT%H:%M:%SZ"), clients=1)
    finally:
        uncached.terminate()
        uncached.wait(timeout=30)
    return figures


def print_reads(r):
    """The reads without the read cache, as BENCHMARKS.md gives them."""
    with open(os.path.join(OUT, "reads.json"), "w") as f:
        json.dump(r, f, indent=2)
    bare, day, quarter = r["bare-get"], r["curve-15m-uncached"], r["curve-90d-uncached"]
    print(f"bare GET: {bare['rps']:,.0f}/s, p50 {bare['p50']:.2f} ms")
    print(f"curve 24 h/15 m, read cache off: {day['rps']:,.0f}/s, p50 {day['p50']:.2f} ms, "
          f"p99 {day['p99']:.2f} ms, {day['rps'] / bare['rps']:.2f}x bare (target 0.2), "
          f"{day['non2xx']} non-2xx, downwatch {day['cpu_us']['downwatch']:.0f} µs/request")
    print(f"curve 90 d/1 h, read cache off, one client: p50 {quarter['p50']:.2f} ms "
          f"(target < 50), p99 {quarter['p99']:.2f} ms, {quarter['non2xx']} non-2xx")
    print(f"history read by the monitor in {r['readings-seconds']:.0f} s")


def read_flood(binary, env, log):
    """The read flood twice in one run: reports sent to the listener the flood is on, then to an
    intake listener of their own (DOWNWATCH_INTAKE_BIND), so the two are compared on the same
    machine state."""
    load = os.getloadavg()[0]
    return {"load_before": load,
            "shared": read_flood_once(binary, env, log, intake=False),
            "intake": read_flood_once(binary, env, log, intake=True)}


def read_flood_once(binary, env, log, intake):
    """A read flood as an outage brings it, against an instance at its defaults (read cache 1 s,
    8 renderings at once, 30 fresh renderings per client): 128 connections asking curves nobody
    asked before, each request from an address of its own (bench/wrk/flood.lua), while one
    client reports every 50 ms from fresh addresses (on the intake listener when `intake`) and
    the monitor ticks every second over the 1,000-service catalog. Measures the reports'
    latency and the monitor's ticks."""
    port, intake_port = free_port(), free_port()
    listeners = {"DOWNWATCH_BIND": f"127.0.0.1:{port}"}
    if intake:
        listeners["DOWNWATCH_INTAKE_BIND"] = f"127.0.0.1:{intake_port}"
    instance = subprocess.Popen(
        [binary, "serve"], cwd=ROOT, stdout=log, stderr=log,
        env=dict(env, DOWNWATCH_MONITOR_TICK_SECONDS="1", **listeners),
    )
    base = f"http://127.0.0.1:{port}"
    reports_to = f"http://127.0.0.1:{intake_port if intake else port}"
    # Reporters and addresses of their own in each run (the two share the bench's Redis).
    first_octet = 99 if intake else 100
    ticks = ('downwatch_monitor_ticks_total{outcome="ok"}',
             'downwatch_monitor_ticks_total{outcome="failed"}')
    try:
        wait_for(base + "/readyz", "the read-flood instance", instance)
        # A new leader builds its trackers over its first ticks: the flood starts once zoom,
        # whose status the run checks, is evaluated.
        for _ in range(600):
            if (get_json(base + "/v1/services/zoom").get("status") or {}).get("level"):
                break
            time.sleep(0.1)
        before = [metric(base, series) for series in ticks]
        counted_before = counted("zoom", port)
        stop = threading.Event()
        latencies, statuses = [], []

        def report_every_50ms():
            sent = 0
            while not stop.is_set():
                sent += 1
                body = json.dumps({"service": "zoom", "problem": "login",
                                   "reporter": f"flood-probe-{first_octet}-{sent}"}).encode()
                request = urllib.request.Request(
                    reports_to + "/v1/reports", data=body, method="POST",
                    headers={"Content-Type": "application/json",
                             "X-Forwarded-For":
                             f"{first_octet}.{sent // 256 % 256}.{sent % 256}.1"})
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        statuses.append(response.status)
                except urllib.error.HTTPError as e:
                    statuses.append(e.code)
                latencies.append((time.perf_counter() - started) * 1000)
                stop.wait(0.05)

        probe = threading.Thread(target=report_every_50ms)
        probe.start()
        try:
            flood = wrk(base + "/", "flood.lua", watch=[("downwatch", instance.pid)],
                        connections=FLOOD_CONNECTIONS)
        finally:
            stop.set()
            probe.join()
        after = [metric(base, series) for series in ticks]
        latencies.sort()
        zoom = get_json(base + "/v1/services/zoom")
        return {
            "flood": flood,
            "reports": len(latencies),
            "reports_accepted": statuses.count(202),
            "report_p50": latencies[len(latencies) // 2],
            "report_p99": latencies[max(0, -(-len(latencies) * 99 // 100) - 1)],
            "report_max": latencies[-1],
            "ticks_ok": after[0] - before[0],
            "ticks_failed": after[1] - before[1],
            "tick_seconds_max": tick_seconds_max(base),
            "zoom_status": (zoom.get("status") or {}).get("level"),
            "counted": counted("zoom", port) - counted_before,
        }
    finally:
        instance.terminate()
        instance.wait(timeout=30)


def flood_lines(both):
    """The read flood, both ways, as BENCHMARKS.md and BENCH_ONLY=flood give it."""
    return (["Reports on the listener the flood is on (one `DOWNWATCH_BIND`):", ""]
            + flood_run_lines(both["shared"])
            + ["", "Reports on an intake listener of their own (`DOWNWATCH_INTAKE_BIND`), the flood "
               "unchanged on the main one:", ""]
            + flood_run_lines(both["intake"]))


def flood_run_lines(f):
    """One read-flood run."""
    flood = f["flood"]
    return [
        f"- The flood: {flood['requests']:,} reads in {DURATION} ({flood['rps']:,.0f}/s, "
        f"p99 {flood['p99']:.2f} ms): {flood.get('rendered', 0):,} rendered, "
        f"{flood.get('busy', 0):,} `busy` 503s, {flood.get('other', 0):,} other answers.",
        f"- Reports during it, one every 50 ms from fresh addresses: {f['reports_accepted']} of "
        f"{f['reports']} answered 202, p50 {f['report_p50']:.1f} ms, **p99 {f['report_p99']:.1f} "
        f"ms** (target < 100), max {f['report_max']:.1f} ms; {f['counted']} counted.",
        f"- The monitor (1-second ticks over the catalog): {f['ticks_ok']:.0f} ticks ok, "
        f"{f['ticks_failed']:.0f} failed, every tick under {f['tick_seconds_max']} s; "
        f"`/v1/services/zoom` status afterwards: `{f['zoom_status']}`.",
    ]


def flood_section(both):
    """The read-flood section of BENCHMARKS.md."""
    return [
        "## A read flood during an outage",
        "",
        f"Measured {datetime.date.today().isoformat()}, load average before the run "
        f"{(both or {}).get('load_before', 0):.1f}. `wrk -c{FLOOD_CONNECTIONS}` with `bench/wrk/flood.lua` "
        "against an instance at its read defaults (cache 1 s, 8 renderings at once, 30 fresh "
        "renderings per client): every request a 15-minute curve from a `from` nobody asked "
        "before, from an address of its own. The two runs below are one after the other, each "
        "on a fresh instance.",
        "",
    ] + (flood_lines(both) if both else ["- not measured"])


def print_flood(f):
    """BENCH_ONLY=flood: the read flood alone, printed and written into BENCHMARKS.md."""
    with open(os.path.join(OUT, "flood.json"), "w") as out:
        json.dump(f, out, indent=2)
    lines = flood_section(f)
    print("\n".join(lines))
    replace_section(lines)


def tick_seconds_max(base):
    """The smallest histogram bound under which every monitor tick finished."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets = re.findall(r'^downwatch_monitor_tick_seconds_bucket\{le="([^"]+)"\} ([\d.e+]+)$',
                         text, re.M)
    total = metric(base, "downwatch_monitor_tick_seconds_count")
    return next((float(le) for le, n in buckets if le != "+Inf" and float(n) >= total), None)


def ingest_with_aof(binary, env, log):
    """The ingest run against a second instance (same database) on a Redis with AOF on."""
    url, redis, directory = start_aof_redis()
    port = free_port()
    instance = subprocess.Popen(
        [binary, "serve"], cwd=ROOT, stdout=log, stderr=log,
        env=dict(env, DOWNWATCH_BIND=f"127.0.0.1:{port}", REDIS_URL=url),
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", "the instance on the AOF Redis", instance)
        return ingest(f"http://127.0.0.1:{port}", port, redis.pid, instance.pid)
    finally:
        instance.terminate()
        instance.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


def incidents_opened(base, slug):
    """Incidents the instance opened for `slug`."""
    return get_json(f"{base}/v1/incidents?service={slug}")["incidents"]


# The replayed services' usual volume (the scenario's baseline per minute), seeded as a week of
# 15-minute bins at the replay's speed and scale before the instance starts: the monitor judges
# the replay as it would a service it has watched for a week, with its own tail and noise,
# rather than by a new service's first-day rules (and, before 2026-12-03, its first hour without
# any alarm, within which the replay was over).
REPLAY_BASELINES = {"facebook": 40, "instagram": 30}

SEED_REPLAY_BINS = """
SELECT downwatch_ensure_bin_partitions((now() - interval '8 days')::date, now()::date);
INSERT INTO report_bins (service_id, bin_start, total)
SELECT s.id, t, greatest(0, round({per_bin} * (0.9 + 0.2 * random())))::int
FROM services s, generate_series(
    to_timestamp(floor(extract(epoch FROM now()) / 900) * 900) - interval '7 days',
    to_timestamp(floor(extract(epoch FROM now()) / 900) * 900) - interval '15 minutes',
    interval '15 minutes') t
WHERE s.slug = '{slug}'
ON CONFLICT (service_id, bin_start) DO UPDATE SET total = excluded.total;
INSERT INTO rollup_progress (id, complete_before)
VALUES (true, to_timestamp(floor(extract(epoch FROM now()) / 900) * 900))
ON CONFLICT (id) DO UPDATE SET complete_before = excluded.complete_before;
"""


def seed_replay_history(env):
    """A week of the replayed services' usual volume, as the replay will send it."""
    psql = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", env["DATABASE_URL"]]
    speed = FACEBOOK_SPEED if FACEBOOK_SPEED > 0 else 1
    for slug, per_minute in REPLAY_BASELINES.items():
        per_bin = per_minute * 15 * speed * FACEBOOK_SCALE
        run(psql + ["-c", SEED_REPLAY_BINS.format(per_bin=per_bin, slug=slug)], quiet=True)


def replay_facebook(binary, env, base):
    """The Facebook record through `downwatch simulate` against the instance at `base`, and
    the Facebook incidents the instance opened."""
    print(f"bench: replaying the Facebook record at {FACEBOOK_SCALE:g}x volume, "
          f"{FACEBOOK_SPEED:g}x speed")
    pace = ["--speed", str(FACEBOOK_SPEED)] if FACEBOOK_SPEED > 0 else []
    # Not `run`: a failed reconciliation exits 1, and the report must say so.
    sim = subprocess.run(
        [binary, "simulate", "--scenario", "scenarios/facebook-2024-03-05.toml",
         "--url", base, "--concurrency", "256", "--scale", str(FACEBOOK_SCALE)] + pace,
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    result = parse_simulation(sim.stdout + sim.stderr)
    # The monitor ticks on its own interval: give it a moment past the replay's end.
    time.sleep(15)
    result["incidents"] = [
        {k: i.get(k) for k in ("began_at", "started_at", "highest_level", "peak_minute_count",
                               "total_reports", "ended_at")}
        for i in incidents_opened(base, "facebook")
    ]
    return result


def parse_simulation(out):
    sent = re.search(r"sent (\d+) in ([\d.]+) s \((\d+)/s\)", out)
    return {
        "sent": int(sent.group(1)),
        "seconds": float(sent.group(2)),
        "rate": int(sent.group(3)),
        "counted": int(re.search(r"counted (\d+)", out).group(1)),
        "reconciled": "MISMATCH" not in out and " ok" in out,
        "text": out.strip(),
    }


def parse_criterion(out):
    """Throughput of each criterion benchmark, in elements per second."""
    scale = {"elem/s": 1, "Kelem/s": 1e3, "Melem/s": 1e6, "Gelem/s": 1e9}
    figures = {}
    for name, value, unit in re.findall(
        r"^(model/\S+)\s*\n(?:.*\n)*?\s+thrpt:\s+\[[\d.]+ \S+ ([\d.]+) (\S+) ", out, re.M
    ):
        figures[name] = float(value) * scale[unit]
    return figures


def clean_up(env):
    subprocess.run(
        ["psql", env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", "-qc",
         f"DROP DATABASE IF EXISTS \"{env['DATABASE_URL'].rsplit('/', 1)[1]}\" WITH (FORCE)"],
        capture_output=True,
    )
    keys = subprocess.run(
        ["redis-cli", "-u", REDIS_URL, "--scan", "--pattern", env["DOWNWATCH_REDIS_PREFIX"] + ":*"],
        capture_output=True, text=True,
    ).stdout.split()
    for i in range(0, len(keys), 1000):
        subprocess.run(["redis-cli", "-u", REDIS_URL, "unlink", *keys[i:i + 1000]],
                       capture_output=True)


def ingest_limits(r):
    """The paragraph on where ingest's time goes, from the run's CPU accounting and profile."""
    ingest, bare = r["ingest"], r["bare-post"]
    ratio = ingest["rps"] / bare["rps"]
    own, redis = ingest["cpu_us"]["downwatch"], ingest["cpu_us"]["redis"]
    lines = [
        f"CPU per request, measured from /proc during the runs above: downwatch {own:.1f} µs "
        f"and Redis {redis:.1f} µs per report, against {bare['cpu_us']['bare']:.1f} µs for "
        "the bare server, which does nothing but HTTP. wrk uses the rest of the two cores. "
        f"Group commit carried {ingest['per_call']:.1f} reports per counting call at "
        f"{CONNECTIONS} connections and {r['ingest-wide']['per_call']:.1f} at "
        f"{WIDE_CONNECTIONS} (one script call, one round trip each).",
    ]
    profile = r.get("ingest-profile")
    if profile:
        kernel = sum(v for k, v in profile.items() if "kernel" in k)
        lines += ["", f"A perf sample of downwatch under the same load: {kernel:.0f}% of its "
                  f"time in the kernel (socket reads and writes, to clients and to Redis, and "
                  f"task wake-ups), {profile.get('downwatch', 0):.0f}% in its own code and its "
                  f"libraries, {profile.get('libc.so.6', 0):.0f}% in libc (mostly allocation)."]
    verdict = "met" if ratio >= 0.6 else f"**missed: {ratio:.2f}**"
    lines += ["", f"Target ratio 0.6 at {CONNECTIONS} connections: {verdict}. "
              f"p99 latency at {CONNECTIONS} connections: {ingest['p99']:.2f} ms "
              f"(target 5 ms or less: {'met' if ingest['p99'] <= 5 else '**missed**'})."]
    return lines


def lost_check(name, f):
    """The sentence comparing an ingest run's 202s with what Redis counted."""
    passed = f["redis"] >= f["accepted"] and f["other"] == 0
    return (f"- {name}: wrk's threads saw {f['accepted']:,} answers of 202 (and {f['other']:,} "
            f"others); Redis holds {f['redis']:,} reports for the run: "
            + ("**check passed**." if passed else "**CHECK FAILED**."))


def group_commit_lines(r):
    lines = ["| Requests at once | Reports/s | Reports per Redis call | Allocations per report |",
             "| ---: | ---: | ---: | ---: |"]
    for g in r["group-commit"]:
        lines.append(f"| {g['concurrency']} | {g['rate']:,.0f} | {g['per_call']:.2f} | "
                     f"{g['allocations']:.1f} |")
    return lines


def facebook_lines(sim, dated=False):
    paced = (f"at {FACEBOOK_SPEED:g}x speed (scenario seconds per real second)"
             if FACEBOOK_SPEED > 0 else "unpaced")
    opened = sim.get("incidents", [])
    incident = (f"The monitor opened {len(opened)} Facebook incident(s): "
                + "; ".join(f"rise from {i['began_at']}, opened {i['started_at']}, highest level "
                            f"`{i['highest_level']}`, peak minute {i['peak_minute_count']:,} "
                            f"reports, {i['total_reports']:,} in all"
                            + (f", resolved {i['ended_at']}" if i.get("ended_at") else ", open")
                            for i in opened) + "."
                if opened else "**No Facebook incident was opened.**")
    when = (f"Measured {datetime.date.today().isoformat()} (`BENCH_ONLY=facebook`). "
            if dated else "")
    return [
        when + "A week of Facebook's and Instagram's usual volume (the scenario's baseline, at "
        "the replay's speed and scale) was seeded as 15-minute bins before the instance started, "
        "so the monitor judged the replay as on a service it has watched. "
        f"`downwatch simulate` replayed `scenarios/facebook-2024-03-05.toml` (Facebook and "
        f"Instagram, 5 March 2024) at {FACEBOOK_SCALE:g}x its volume, {paced}, through real "
        f"HTTP with distinct reporters and 256 requests in flight: {sim['sent']:,} reports in "
        f"{sim['seconds']:.1f} s, {sim['rate']:,} a second on average, sender and server on the "
        "same two cores. Reconciliation: "
        + ("every acknowledged report counted." if sim["reconciled"] else "**MISMATCH**.")
        + " " + incident,
        "",
        "```",
        sim["text"],
        "```",
    ]


def write_report(r):
    described, versions = machine()
    date = datetime.date.today().isoformat()

    def row(name, key, ceiling, target=None):
        if key not in r:
            return f"| {name} | not measured ({r.get('reads-failed', 'missing')}) | | | |"
        f = r[key]
        ratio = f["rps"] / r[ceiling]["rps"]
        goal = f" (target ≥ {target})" if target else ""
        return (f"| {name} | {f['rps']:,.0f} | {f['p50']:.2f} | {f['p99']:.2f} | "
                f"{ratio:.2f}{goal} |")

    sim = r["simulate"]
    model = r["model"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run.sh` from one run, except the sections that name the run they come",
        "from. Rerun it to",
        "reproduce on your machine: figures move with the machine, the ratios much less.",
        "",
        f"- Date: {date}",
        f"- Machine: {described}",
        f"- Software: {versions['rustc']}, Redis {versions['redis']}, {versions['postgres']}, "
        f"{versions['wrk']}",
        f"- Load: `wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} --latency` on the same machine "
        "(wrk, downwatch, Redis and PostgreSQL share the cores); downwatch in release mode "
        f"with its default {os.cpu_count()} workers (one per core), `RUST_LOG=warn`, the rate limit raised to 1,000,000 a "
        "minute for the run, a catalog of "
        f"{r['status']['services']:,} services.",
        "- Ceiling: `examples/bare.rs`, the same actix-web server doing no work, measured in "
        "the same run with the same requests (POST with `bench/wrk/ingest.lua`, or GET).",
        "- Reads go through the read cache at its default (`DOWNWATCH_READ_CACHE_MS=1000`): "
        "one rendering a second per distinct question, shared by every request. The rows marked "
        "\"read cache off\" are a second instance on the same data with "
        "`DOWNWATCH_READ_CACHE_MS=0` (and the bounds on renderings per client and at once "
        f"opened to wrk's connections), after {SEEDED_DAYS} days of chatgpt's bins were "
        "seeded into the database and the monitor had stored the model's readings of them "
        + (f"(in {r['readings-seconds']:.0f} s)." if "readings-seconds" in r
           else f"({r.get('reads-failed', 'not measured')}).")
        + " They are seeded before the instance starts, so chatgpt, the service every ingest "
        "run reports to, has that history throughout (its monitor judges the ingest runs "
        "against it, as on a watched service); runs before 2026-12-03 seeded it only for "
        "the uncached reads.",
        "",
        "| Endpoint | Requests/s | p50 ms | p99 ms | Ratio to bare |",
        "| --- | ---: | ---: | ---: | ---: |",
        row(f"bare POST (ceiling), {CONNECTIONS} connections", "bare-post", "bare-post"),
        row(f"`POST /v1/reports`, distinct reporters, {CONNECTIONS} connections", "ingest",
            "bare-post", 0.6),
        row(f"the same with Redis AOF on (`appendfsync everysec`)", "ingest-aof", "bare-post",
            0.6),
        row(f"bare POST (ceiling), {WIDE_CONNECTIONS} connections", "bare-post-wide",
            "bare-post-wide"),
        row(f"`POST /v1/reports`, {WIDE_CONNECTIONS} connections", "ingest-wide",
            "bare-post-wide", 0.6),
        row("bare GET (ceiling)", "bare-get", "bare-get"),
        row("`GET /v1/services/chatgpt/curve` 24 h at 15 m", "curve-15m", "bare-get", 0.3),
        row("the same, read cache off (every request renders; 97 days of bins)",
            "curve-15m-uncached", "bare-get", 0.2),
        row("`GET /v1/services/chatgpt/curve` 90 d at 1 h, read cache off, one client "
            "(p50 target < 50 ms)", "curve-90d-uncached", "bare-get"),
        row("`GET /v1/services/chatgpt/curve` 24 h at 1 m", "curve-1m", "bare-get"),
        row(f"`GET /v1/status`, {r['status']['services']:,} services", "status", "bare-get"),
        "",
    ] + cluster_lines(r) + [
        "## Nothing acknowledged is lost",
        "",
        "Redis may hold a few more reports than wrk saw (requests in flight when wrk stops are "
        "counted but not read), never fewer.",
        "",
        lost_check(f"{CONNECTIONS} connections", r["ingest"]),
        lost_check(f"{WIDE_CONNECTIONS} connections", r["ingest-wide"]),
        lost_check("AOF on", r["ingest-aof"]),
        "",
        "## What limits ingest",
        "",
    ] + ingest_limits(r) + [
        "",
        "## Group commit alone",
        "",
        "`cargo bench --bench group_commit`: reports counted straight through `Windows::count` "
        "(no HTTP) on one thread, like one worker, by 1, 8 and 64 requests at once:",
        "",
    ] + group_commit_lines(r) + [
        "",
    ] + flood_section(r.get("read-flood")) + [
        "",
        "## The largest outage on record",
        "",
    ] + facebook_lines(sim) + [
        "",
        "## Redis memory",
        "",
        f"- {r['memory']['bucket']} bytes per active service-minute bucket (target ≤ 200), from "
        "`INFO memory` before and after 6,000 buckets of 20 reports each with problem kinds "
        "and countries, written by the production counting script (`benches/redis_memory.rs`).",
        f"- {r['memory']['dedup']} bytes per dedup entry (target ≤ 64) at 1,200 reporters a "
        f"service, and {r['memory']['dedup-crowd']} at a million reporters of one service: one "
        "entry per reporter and service, in the service's hash for the dedup epoch, which goes "
        "as a whole two windows after the epoch began.",
        "",
        "## Detection model",
        "",
        "From `cargo bench --bench model` (criterion), points per second:",
        "",
    ]
    for name, value in sorted(model.items()):
        lines.append(f"- `{name}`: {value / 1e6:,.1f} M points/s")
    bare_pass = model.get("model/busy-28d-1m/bare-pass")
    detector = model.get("model/busy-28d-1m/detector")
    if bare_pass and detector:
        lines.append("")
        lines.append(f"The detector runs at 1/{bare_pass / detector:,.0f} of a bare pass over "
                     "the same data, and a year of one-minute points takes "
                     f"{525_600 / detector * 1000:.0f} ms.")
    lines.append("")
    path = os.path.join(ROOT, "BENCHMARKS.md")
    # Sections measured by other runs (the cluster's, the monitor's at scale) stay as they are.
    kept = []
    if os.path.exists(path):
        old = open(path).read()
        for title in (CLUSTER_SECTION, MONITOR_SECTION):
            if title in lines:
                continue  # this run measured it
            match = re.search(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", old, re.M | re.S)
            if match:
                kept.append(match.group(0).rstrip("\n") + "\n")
    with open(path, "w") as f:
        f.write("\n".join(lines + kept))


# --- Ingest on a Redis Cluster -------------------------------------------------------------

CLUSTER_MASTERS = 3
CLUSTER_SECTION = "## Ingest on a Redis Cluster"
# Written by hand from `monitor::scale` (see README, "The monitor at scale"); kept by a full run.
MONITOR_SECTION = "## Monitor at scale"


def start_cluster():
    """A Redis Cluster of the bench's own: three masters on free ports, no replicas, no
    persistence (as the plain single-server runs); its URL, processes and directory."""
    directory = os.path.join(OUT, f"cluster-{uuid.uuid4().hex[:8]}")
    os.makedirs(directory, exist_ok=True)
    ports = []
    while len(ports) < CLUSTER_MASTERS:
        # A node's cluster bus listens on its port + 10000, which must be a port too.
        port = free_port()
        if port < 55000 and port not in ports:
            ports.append(port)
    processes = [
        subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled",
             "yes", "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout",
             "5000", "--cluster-require-full-coverage", "no", "--save", "", "--appendonly",
             "no", "--dir", directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]

    def cli(port, *args):
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                              text=True).stdout

    for port in ports:
        for _ in range(100):
            if cli(port, "ping").strip() == "PONG":
                break
            time.sleep(0.1)
        else:
            sys.exit(f"bench: cluster node {port} did not come up")
    run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
         "--cluster-yes"], quiet=True)
    for _ in range(300):
        if all("cluster_state:ok" in cli(p, "cluster", "info") for p in ports):
            url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)
            return url, processes, directory
        time.sleep(0.1)
    sys.exit("bench: the Redis Cluster did not become ok")


def wrk_spread(bases, watch):
    """The ingest load split over `bases` at once: one wrk each (its own BENCH_WRK_TAG, so no
    two send the same reporter or address), CONNECTIONS and THREADS shared out; summed."""
    n = len(bases)
    threads, connections = max(1, THREADS // n), max(1, CONNECTIONS // n)
    before = {name: cpu_seconds(pid) for name, pid in watch}
    loads = [
        subprocess.Popen(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", DURATION, "--latency",
             "-s", os.path.join(ROOT, "bench", "wrk", "ingest.lua"), base + "/v1/reports"],
            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, BENCH_WRK_TAG=str(i)),
        )
        for i, base in enumerate(bases)
    ]
    outs = []
    for load in loads:
        out, err = load.communicate()
        if load.returncode != 0:
            sys.exit(f"bench: wrk failed:\n{out}\n{err}")
        outs.append(parse_wrk(out))
    after = {name: cpu_seconds(pid) for name, pid in watch}
    figures = {key: sum(o[key] for o in outs)
               for key in ("rps", "requests", "non2xx", "accepted", "other")}
    figures["p50"] = max(o["p50"] for o in outs)
    figures["p99"] = max(o["p99"] for o in outs)
    figures["cpu_us"] = {
        name: (after[name] - before[name]) / figures["requests"] * 1e6 for name in after
    }
    return figures


def cluster_ingest(binary, env, log):
    """Ingest through 1, 2 and 3 instances on a three-master Redis Cluster (same database as
    the single-server instance), each run's load spread over the instances in use."""
    url, nodes, directory = start_cluster()
    instances = []
    results = {}
    try:
        for _ in range(CLUSTER_MASTERS):
            port = free_port()
            process = subprocess.Popen(
                [binary, "serve"], cwd=ROOT, stdout=log, stderr=log,
                env=dict(env, DOWNWATCH_BIND=f"127.0.0.1:{port}", REDIS_URL=url),
            )
            instances.append((f"http://127.0.0.1:{port}", port, process))
            wait_for(f"http://127.0.0.1:{port}/readyz", "an instance on the cluster", process)
        redis_watch = [(f"redis-{i}", node.pid) for i, node in enumerate(nodes)]
        for n in range(1, len(instances) + 1):
            used = instances[:n]
            print(f"bench: ingest through {n} instance(s) on the cluster")
            before = counted("chatgpt", used[0][1])
            calls_before = [batch_totals(base) for base, _, _ in used]
            watch = [(f"downwatch-{i}", p.pid) for i, (_, _, p) in enumerate(used)]
            figures = wrk_spread([base for base, _, _ in used], watch + redis_watch)
            time.sleep(1)  # requests cut off at the end of the run may still land
            figures["redis"] = counted("chatgpt", used[0][1]) - before
            calls_after = [batch_totals(base) for base, _, _ in used]
            calls = sum(a["count"] - b["count"] for a, b in zip(calls_after, calls_before))
            carried = sum(a["sum"] - b["sum"] for a, b in zip(calls_after, calls_before))
            figures["per_call"] = carried / calls if calls else 0.0
            results[n] = figures
    finally:
        for _, _, process in instances:
            process.terminate()
            process.wait(timeout=30)
        for node in nodes:
            node.terminate()
            node.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
    return results


def cluster_lines(r):
    """The section on ingest through 1, 2 and 3 instances on the cluster."""
    single, bare = r["ingest"], r["bare-post"]
    lines = [
        CLUSTER_SECTION,
        "",
        f"Measured {datetime.date.today().isoformat()}; the bare POST and one-server rows come "
        f"from the same run: `POST /v1/reports` (distinct "
        f"reporters, all to chatgpt: one service's slot, as in an outage) through 1, 2 and 3 "
        f"downwatch instances on a Redis Cluster of {CLUSTER_MASTERS} masters (no replicas, no "
        f"persistence, on this machine), {CONNECTIONS} connections in all, split over one wrk "
        "per instance. Everything shares the same cores, so more instances cannot add capacity "
        "here: the figures are the cost per report of the cluster path (a rate call on the "
        "client's slot, then the count on the service's), not a scaling claim.",
        "",
        "| Run | Reports/s | p50 ms | p99 ms | to one server | to bare | downwatch µs/report "
        "| Redis µs/report | Reports per count call |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| bare POST (ceiling) | {bare['rps']:,.0f} | {bare['p50']:.2f} | {bare['p99']:.2f} "
        f"| | 1.00 | | | |",
        f"| one instance, one Redis server | {single['rps']:,.0f} | {single['p50']:.2f} | "
        f"{single['p99']:.2f} | 1.00 | {single['rps'] / bare['rps']:.2f} | "
        f"{single['cpu_us']['downwatch']:.1f} | {single['cpu_us']['redis']:.1f} | "
        f"{single['per_call']:.1f} |",
    ]
    for n, f in sorted(r["cluster"].items()):
        own = sum(v for k, v in f["cpu_us"].items() if k.startswith("downwatch"))
        redis = sum(v for k, v in f["cpu_us"].items() if k.startswith("redis"))
        lines.append(
            f"| {n} instance{'s' if n > 1 else ''}, cluster | {f['rps']:,.0f} | {f['p50']:.2f} "
            f"| {f['p99']:.2f} | {f['rps'] / single['rps']:.2f} | {f['rps'] / bare['rps']:.2f} "
            f"| {own:.1f} | {redis:.1f} | {f['per_call']:.1f} |")
    lines += [""] + [lost_check(f"cluster, {n} instance{'s' if n > 1 else ''}", f)
                     for n, f in sorted(r["cluster"].items())]
    return lines + [""]


def replace_section(lines):
    """Rewrites only the section `lines` make (its first line is its `## ` title) in
    BENCHMARKS.md, appending it when missing: for the BENCH_ONLY runs."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    section = "\n".join(lines)
    match = re.search(rf"^{re.escape(lines[0])}\n.*?(?=^## |\Z)", text, re.M | re.S)
    if match:
        text = text[:match.start()] + section + "\n" + text[match.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n")


def print_cluster(r):
    print("\n".join(cluster_lines(r)))


if __name__ == "__main__":
    main()
