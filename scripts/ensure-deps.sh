#!/usr/bin/env bash
# Installs the npm dependencies when node_modules is missing or older than the lock file.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
