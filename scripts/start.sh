#!/usr/bin/env bash
# `npm start` (and `npm run dev` with --dev): set up everything, then run one web node and one worker
# in the foreground. `npm run start:cluster` (--cluster): two web nodes (PORT and PORT+1) and two workers.
# Ctrl-C stops them all cleanly.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

mode=production
nodes=1
for arg in "$@"; do
  case "$arg" in
    --dev) mode=development ;;
    --cluster) nodes=2 ;;
    *) die "unknown option $arg (use --dev or --cluster)" ;;
  esac
done

bash scripts/ensure-deps.sh
bash scripts/ensure-services.sh
if [ "$mode" = production ]; then
  log "building the dashboard (next build) and the server (dist/server/)"
  node_modules/.bin/next build >/tmp/taskcast-build.log 2>&1 || { cat /tmp/taskcast-build.log >&2; die "next build failed (output above)"; }
  bash scripts/build-server.sh
  # Compiled JavaScript run by node itself, no TypeScript loader: package.json's start:web and start:worker, and
  # bench/lib/processes.ts, start them the same way. A 4 MiB semi-space (16 by default) keeps the worker's idle
  # RSS low once load has grown its heap, for more, shorter scavenges: see docs/operations.md#worker-memory.
  web=(node dist/server/web.js)
  worker=(node --max-semi-space-size=4 dist/server/worker.js)
else
  web=(node_modules/.bin/tsx server/web.ts)
  worker=(node_modules/.bin/tsx server/worker.ts)
fi

export NODE_ENV=$mode
port="${PORT:-3000}"
metrics_port="${WORKER_METRICS_PORT:-9464}"
pids=()
for i in $(seq 0 $((nodes - 1))); do
  PORT=$((port + i)) "${web[@]}" &
  pids+=($!)
  WORKER_METRICS_PORT=$((metrics_port + i)) "${worker[@]}" &
  pids+=($!)
done

stop() {
  trap - INT TERM
  log "stopping"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

host="${HOST:-127.0.0.1}"
[ "$host" = 0.0.0.0 ] && host=127.0.0.1
for i in $(seq 0 $((nodes - 1))); do
  for _ in $(seq 1 120); do
    if port_open "$host" $((port + i)); then
      log "Taskcast is running: dashboard at http://$host:$((port + i))/ ($mode; Ctrl-C stops)"
      break
    fi
    kill -0 "${pids[$((2 * i))]}" 2>/dev/null || break
    sleep 0.5
  done
done

# If any process exits, stop the others too and pass its status on.
set +e
wait -n "${pids[@]}"
status=$?
trap - INT TERM
kill -TERM "${pids[@]}" 2>/dev/null
wait
log "a process exited (status $status); stopped"
exit "$status"
