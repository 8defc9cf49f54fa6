#!/usr/bin/env bash
# One entry point for a fresh clone on Debian with Node 20:
#   bash tooling/scripts/setup.sh demo   set everything up, then run the demo (embedded SQLite, no services)
#   bash tooling/scripts/setup.sh test   set everything up (incl. Redis + MariaDB), then lint, build,
#                                        type-check, check the packages and run every test; ends with
#                                        the line `N passed, N failed`
#   bash tooling/scripts/setup.sh        set everything up and stop
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-setup}
PNPM_VERSION=12.4.2
SUDO=""; if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
log() { printf '[setup] %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  log "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"; exit 1
fi

# Native addon (better-sqlite3) builds from source: it needs a compiler and python.
if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
  log "installing the build tools better-sqlite3 needs (g++, make, python3)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ make python3 >/dev/null
fi
# Build against the installed Node headers when the distribution ships them (no download needed).
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION"
  $SUDO npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || $SUDO npm install -g "pnpm@$PNPM_VERSION"
fi

log "installing dependencies"
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | grep -Ev '^\s*$|install:' | tail -n 5

case "$mode" in
  setup)
    pnpm turbo run build --output-logs=errors-only
    log "ready. Run 'pnpm demo' or 'pnpm test' (services: bash tooling/scripts/services.sh)"
    ;;
  demo)
    exec pnpm demo
    ;;
  test)
    eval "$(bash tooling/scripts/services.sh | tee /dev/stderr | grep -E '^(REDIS_URL|MYSQL_URL)=' | sed 's/^/export /')"
    exec node tooling/scripts/check-all.mjs
    ;;
  *)
    log "unknown mode '$mode' (use: demo | test | setup)"; exit 2
    ;;
esac
