#!/usr/bin/env bash
# `npm test`: set up everything a fresh machine lacks, then type-check and run every suite:
# unit, integration (real RabbitMQ and Redis), cluster (a real 3-node RabbitMQ cluster; needs root) and
# end-to-end (Playwright in Debian's chromium, then the benchmarks' smoke run, which needs the same build and
# browser).
# `bash scripts/test.sh unit|integration|cluster|e2e` runs one suite.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

suite="${1:-all}"
case "$suite" in all|unit|integration|cluster|e2e) ;; *) die "unknown suite '$suite': use unit, integration, cluster or e2e";; esac

bash scripts/ensure-deps.sh
case "$suite" in
  all|e2e) bash scripts/ensure-services.sh --test-tools ;;
  integration) bash scripts/ensure-services.sh --example-tools ;;
  cluster) bash scripts/ensure-services.sh ;;
esac

run() { log "$1"; shift; "$@"; }

if [ "$suite" = all ] || [ "$suite" = unit ]; then
  run "lint (oxlint)" node_modules/.bin/oxlint --deny-warnings
  run "type-check (tsc --noEmit)" node_modules/.bin/tsc --noEmit
  run "unit tests" node --import tsx --test test/unit/*.test.ts
fi
if [ "$suite" = all ] || [ "$suite" = integration ]; then
  # Files run one after another: they share the brokers (each with its own queue and keys).
  run "integration tests (real RabbitMQ and Redis)" node --import tsx --test --test-concurrency=1 test/integration/*.test.ts
fi
if [ "$suite" = all ] || [ "$suite" = cluster ]; then
  # Three RabbitMQ nodes beside the default one (scripts/rabbitmq-cluster.sh), run as the rabbitmq user: needs root.
  if [ "$(id -u)" = 0 ]; then
    run "cluster test (a real 3-node RabbitMQ cluster, a node killed and restarted)" node --import tsx --test test/cluster/*.test.ts
  elif [ "$suite" = cluster ]; then
    die "the cluster test starts RabbitMQ nodes as the rabbitmq user: run it as root"
  else
    log "cluster test NOT run: it starts RabbitMQ nodes as the rabbitmq user, which needs root (sudo npm run test:cluster)"
  fi
fi
if [ "$suite" = all ] || [ "$suite" = e2e ]; then
  run "building the dashboard (next build)" node_modules/.bin/next build >/tmp/taskcast-test-build.log 2>&1 || { cat /tmp/taskcast-test-build.log >&2; die "next build failed (output above)"; }
  run "end-to-end tests (Playwright, headless chromium)" node_modules/.bin/playwright test
  # The benchmarks run the compiled web node and worker, as production does.
  run "building the server (dist/server/)" bash scripts/build-server.sh
  # Skipped among the integration tests when there was no Next.js build yet (a fresh clone): run now that there is.
  run "the compiled web node (passwords on its worker thread)" node --import tsx --test test/integration/compiled-web.test.ts
  # The benchmarks in miniature (about a minute), so the harness cannot rot; figures go to a scratch folder.
  run "benchmark smoke run" env BENCH_OUT="$(mktemp -d)" node --import tsx bench/run.ts --smoke
fi
log "all requested tests passed"
