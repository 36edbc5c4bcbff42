#!/usr/bin/env bash
# Makes sure RabbitMQ and Redis answer. When RABBITMQ_URL / REDIS_URL are unset and nothing
# listens on the default local ports, installs (as root, with apt-get) and starts them.
# Pass --test-tools to also install Debian's chromium and redis-cli for the end-to-end tests, and what the example
# outside workers need (below); --example-tools installs only the latter (the integration tests run the examples).
source "$(dirname "$0")/lib.sh"

ensure_rabbitmq() {
  if [ -n "${RABBITMQ_URL:-}" ]; then log "using RABBITMQ_URL from the environment"; return; fi
  if port_open 127.0.0.1 5672; then return; fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do
    if rabbitmq-diagnostics -q ping >/dev/null 2>&1 && port_open 127.0.0.1 5672; then log "RabbitMQ is up"; return; fi
    sleep 1
  done
  die "RabbitMQ did not start within 120 s. Look at /var/log/rabbitmq/, or start it yourself and set RABBITMQ_URL."
}

ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then log "using REDIS_URL from the environment"; return; fi
  if port_open 127.0.0.1 6379; then return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    if port_open 127.0.0.1 6379; then log "Redis is up"; return; fi
    sleep 0.2
  done
  die "Redis did not start. Start it yourself and set REDIS_URL."
}

# The end-to-end tests need Debian's chromium and redis-cli (they publish like an outside service).
ensure_test_tools() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# The example workers (examples/php-worker, examples/python-worker) run in the tests with Debian's PHP and Python.
ensure_example_tools() {
  local missing=()
  command -v php >/dev/null || missing+=(php-cli)
  [ -f /usr/share/php/PhpAmqpLib/autoload.php ] || missing+=(php-amqplib)
  /usr/bin/python3 -c 'import pika' >/dev/null 2>&1 || missing+=(python3-pika)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

ensure_rabbitmq
ensure_redis
case "${1:-}" in
  --test-tools) ensure_test_tools; ensure_example_tools ;;
  --example-tools) ensure_example_tools ;;
esac
