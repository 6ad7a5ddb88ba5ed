#!/usr/bin/env bash
# Starts RabbitMQ and PostgreSQL (and MariaDB when installed) if they do not answer yet.
# Works without systemd, as on a fresh container or CI machine. Idempotent.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 name=$2
    for _ in $(seq 1 120); do
        port_open "$port" && return 0
        sleep 0.5
    done
    echo "start-services: $name did not start listening on 127.0.0.1:$port" >&2
    exit 1
}

if ! port_open 5672; then
    echo "start-services: starting RabbitMQ"
    rabbitmq-server -detached
    wait_port 5672 RabbitMQ
fi

if ! port_open 5432; then
    echo "start-services: starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port 5432 PostgreSQL
fi
# The tests connect over TCP as postgres without a password, as on the project's machines.
hba=$(ls /etc/postgresql/*/main/pg_hba.conf | sort -V | tail -n 1)
if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

if [ -x /usr/sbin/mariadbd ] && ! port_open 3306; then
    echo "start-services: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_port 3306 MariaDB
fi
