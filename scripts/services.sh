# Sourced by scripts/test.sh and .ci/run: make sure PostgreSQL and Redis answer on loopback,
# starting them (or installing them with apt-get, as root) when they don't. Fails loudly.

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() { # wait_for <check-function> <what>
  for _ in $(seq 1 60); do "$1" && return 0; sleep 0.5; done
  echo "error: $2 is not reachable on 127.0.0.1" >&2
  return 1
}

ensure_postgres() {
  pg_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing PostgreSQL…" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  echo "starting PostgreSQL…" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for pg_up PostgreSQL
}

ensure_redis() {
  redis_up && return 0
  if ! command -v redis-server >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Redis…" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  echo "starting Redis…" >&2
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for redis_up Redis
}
