#!/usr/bin/env bash
# Reproduces BENCHMARKS.md in one command: release build, downwatch and the bare server side by
# side against the local PostgreSQL and Redis, wrk load, Redis memory, the model's criterion
# bench. Takes about 30 minutes, half of it the Facebook replay at full volume (BENCH_FACEBOOK_SCALE
# shortens it). See bench/run.py for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk
fi
exec python3 bench/run.py "$@"
