# Shared helpers for Taskcast's set-up scripts (sourced, not run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NEXT_TELEMETRY_DISABLED=1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

log() { printf '\033[36m[taskcast]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[taskcast] %s\033[0m\n' "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

APT_UPDATED=0
# apt_install PKG...: install Debian packages when running as root, else explain.
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "Missing $*. Install the Debian package(s) $* (sudo apt-get install -y $*), or set RABBITMQ_URL / REDIS_URL to running servers."
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
