#!/usr/bin/env bash
# Compiles the server's entry points (server/web.ts, server/worker.ts) to plain JavaScript in dist/server/, which
# `npm start`, `start:cluster`, `start:web`, `start:worker` and the benchmarks run with node: no TypeScript loader
# in production processes (tsx alone costs a process about 36 MiB of RSS). esbuild comes with tsx. Our own code is
# bundled, one file per entry point; npm packages stay in node_modules (next must, and bundling the rest saved
# little). Source maps sit beside each file for `node --enable-source-maps` (see docs/operations.md).
# `npm run dev` and the tests that spawn server/*.ts keep running the TypeScript through tsx.
# The web node checks passwords on worker threads and records outside broadcasts on one, which load their own files:
# dist/server/password-worker.js and ingest-thread.js, beside web.js, where server/auth/password-checker.ts and
# server/broadcast/ingest-host.ts look for them once bundled. DIST_DIR=dist-b builds into dist-b/server instead, to
# compare two builds side by side (bench/worker-pair.ts).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

node_modules/.bin/esbuild server/web.ts server/worker.ts password-worker=server/auth/password-worker.ts ingest-thread=server/broadcast/ingest-thread.ts \
  --bundle --packages=external --platform=node --format=esm --target=node20 \
  --sourcemap --outdir="${DIST_DIR:-dist}/server" --log-level=warning
