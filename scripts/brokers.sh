#!/usr/bin/env bash
# Start each local broker the tests use that is not answering, then wait for it.
# A broker whose server is not installed is left alone: its tests skip, or fail under CI=true.
set -u

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do up "$2" && return 0; sleep 0.1; done
  echo "brokers: $1 did not answer on port $2 within $3s" >&2
  return 1
}

start() {  # name port seconds command...
  local name=$1 port=$2 secs=$3
  shift 3
  if up "$port"; then return 0; fi
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "brokers: $name is not running and '$1' is not installed" >&2
    return 0
  fi
  echo "brokers: starting $name" >&2
  "$@" >/dev/null 2>&1 || true
  wait_for "$name" "$port" "$secs"
}

start NATS 4222 15 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
start Redis 6379 15 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
start RabbitMQ 5672 90 rabbitmq-server -detached
if [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
  start PostgreSQL 5432 30 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
else
  up 5432 || echo "brokers: PostgreSQL is not running and not installed" >&2
fi
exit 0
