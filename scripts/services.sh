#!/usr/bin/env bash
# Make sure the backing services the tests use are up; start the local ones if
# they are installed but stopped, or say which address was tried and how to start it.
set -u
fail=0

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port
  for _ in $(seq 1 60); do up "$2" && return 0; sleep 0.5; done
  return 1
}

ensure() {  # name port start-command
  local name=$1 port=$2 start=$3
  up "$port" && return 0
  echo "$name is not answering on 127.0.0.1:$port; starting it: $start" >&2
  bash -c "$start" >/dev/null 2>&1 || true
  if ! wait_for "$name" "$port"; then
    echo "error: $name is unreachable at 127.0.0.1:$port. Start it with: $start" >&2
    fail=1
  fi
}

ensure postgres 5432 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
ensure redis 6379 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log'
ensure rabbitmq 5672 'rabbitmq-server -detached'
exit $fail
