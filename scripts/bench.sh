#!/usr/bin/env bash
# `npm run bench` (`-- --smoke` for the seconds-long version): set up what a fresh machine lacks (npm packages,
# RabbitMQ, Redis, Debian's chromium), build the dashboard and the server, then run bench/run.ts. Results go to
# bench/results/.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

bash scripts/ensure-deps.sh
bash scripts/ensure-services.sh --test-tools
log "building the dashboard (next build)"
node_modules/.bin/next build >/tmp/taskcast-bench-build.log 2>&1 || { cat /tmp/taskcast-bench-build.log >&2; die "next build failed (output above)"; }
# The benchmarks run the web node and the worker compiled, as production does (bench/lib/processes.ts).
bash scripts/build-server.sh
exec node --import tsx bench/run.ts "$@"
