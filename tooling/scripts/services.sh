#!/usr/bin/env bash
# Idempotent: makes sure Redis and MariaDB answer on 127.0.0.1 for tests, the demo and benchmarks.
#  - installs redis-server / mariadb-server with apt when absent (Debian/Ubuntu),
#  - starts each one that does not answer,
#  - makes MariaDB's root reachable over TCP with an empty password, creates database `test` and
#    user `test`/`test`,
#  - prints the URLs to use.
# Safe to run any number of times; it changes nothing that already works.
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
MYSQL_PORT=${MYSQL_PORT:-3306}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO=""; fi
fi

log() { printf '[services] %s\n' "$*"; }

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* here: no apt-get. Install it yourself, or use docker-compose.yml."
    exit 1
  fi
  log "installing $* with apt-get"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() { # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.5
  done
}

# ── Redis ──────────────────────────────────────────────────────────────────────────────────────────
redis_ok() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server redis-tools; fi
if redis_ok; then
  log "redis answers on 127.0.0.1:$REDIS_PORT"
else
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/sync-engine-redis.log
  wait_for 15 redis_ok || { log "redis did not come up; see /tmp/sync-engine-redis.log"; exit 1; }
fi

# ── MariaDB ────────────────────────────────────────────────────────────────────────────────────────
mysql_tcp() { mysql --protocol=TCP -h 127.0.0.1 -P "$MYSQL_PORT" -uroot "$@"; }
mysql_up() { mysqladmin --protocol=TCP -h 127.0.0.1 -P "$MYSQL_PORT" -uroot --connect-timeout=2 ping 2>&1 | grep -Eq 'alive|Access denied'; }

if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then apt_install mariadb-server mariadb-client; fi
if mysql_up; then
  log "mariadb answers on 127.0.0.1:$MYSQL_PORT"
else
  log "starting mariadbd on 127.0.0.1:$MYSQL_PORT"
  $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising the data directory"
    $SUDO mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  if command -v start-stop-daemon >/dev/null 2>&1; then
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  else
    $SUDO sh -c '/usr/sbin/mariadbd --user=mysql >/tmp/sync-engine-mariadb.log 2>&1 &'
  fi
  wait_for 60 mysql_up || { log "mariadb did not come up"; exit 1; }
fi

if ! mysql_tcp -e 'SELECT 1' >/dev/null 2>&1; then
  log "making root reachable over TCP with an empty password"
  $SUDO mysql -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;"
fi
mysql_tcp -e "
  CREATE DATABASE IF NOT EXISTS test;
  CREATE USER IF NOT EXISTS 'test'@'localhost' IDENTIFIED BY 'test';
  CREATE USER IF NOT EXISTS 'test'@'127.0.0.1' IDENTIFIED BY 'test';
  CREATE USER IF NOT EXISTS 'test'@'%' IDENTIFIED BY 'test';
  GRANT ALL PRIVILEGES ON \`test\`.* TO 'test'@'localhost', 'test'@'127.0.0.1', 'test'@'%';
  GRANT ALL PRIVILEGES ON \`test\\_%\`.* TO 'test'@'localhost', 'test'@'127.0.0.1', 'test'@'%';
  FLUSH PRIVILEGES;" >/dev/null
log "mariadb ready (root with empty password over TCP, database test, user test/test)"

echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
echo "MYSQL_URL=mysql://root@127.0.0.1:$MYSQL_PORT/test"
