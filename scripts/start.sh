#!/usr/bin/env bash
# `npm start` (and `npm run dev` with --dev): set up everything, then run one web node and one worker
# in the foreground. Ctrl-C stops both cleanly.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

mode=production
[ "${1:-}" = "--dev" ] && mode=development

bash scripts/ensure-deps.sh
bash scripts/ensure-services.sh
if [ "$mode" = production ]; then
  log "building the dashboard (next build)"
  node_modules/.bin/next build >/tmp/taskcast-build.log 2>&1 || { cat /tmp/taskcast-build.log >&2; die "next build failed (output above)"; }
fi

export NODE_ENV=$mode
node_modules/.bin/tsx server/web.ts &
web=$!
node_modules/.bin/tsx server/worker.ts &
worker=$!

stop() {
  trap - INT TERM
  log "stopping"
  kill -TERM "$web" "$worker" 2>/dev/null || true
  wait "$web" "$worker" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

port="${PORT:-3000}"
host="${HOST:-127.0.0.1}"
[ "$host" = 0.0.0.0 ] && host=127.0.0.1
for _ in $(seq 1 120); do
  if port_open "$host" "$port"; then
    log "Taskcast is running: dashboard at http://$host:$port/ ($mode; Ctrl-C stops)"
    break
  fi
  kill -0 "$web" 2>/dev/null || break
  sleep 0.5
done

# If either process exits, stop the other too and pass its status on.
set +e
wait -n "$web" "$worker"
status=$?
trap - INT TERM
kill -TERM "$web" "$worker" 2>/dev/null
wait
log "a process exited (status $status); stopped"
exit "$status"
