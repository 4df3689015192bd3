#!/usr/bin/env bash
# Make sure the servers the tests use are up: Redis on 127.0.0.1:6379 and
# PostgreSQL on 127.0.0.1:5432 (database "test"). Starts them when they are
# installed but down; installs nothing. Used by .ci/run; handy for developers.
set -euo pipefail

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

if ! redis_up; then
    echo "starting redis-server on 127.0.0.1:6379"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_up; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
for _ in $(seq 1 30); do
    if redis_up && pg_up; then break; fi
    sleep 1
done
redis_up || { echo "Redis did not come up" >&2; exit 1; }
pg_up || { echo "PostgreSQL did not come up" >&2; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -d postgres -c "create database test"
fi
echo "services: redis and postgresql are up"
