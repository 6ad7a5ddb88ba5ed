#!/usr/bin/env bash
# The whole system on one fresh Debian 12 machine, as root, on the embedded defaults:
# installs what is needed, brings up a 2-host sandbox cluster with one running guest,
# starts migrator-all (SQLite database, in-process bus), live-migrates the guest through
# the REST API and shows the finished migration with its history.
#
#   tools/quickstart.sh          bring it up and migrate (leaves it running to play with)
#   tools/quickstart.sh stop     stop migrator-all and tear the sandbox down
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=/var/lib/migrator-quickstart
SANDBOX=/var/lib/migrator-sandbox
CONF_FILE=$STATE/migrator.conf
PIDFILE=$STATE/migrator-all.pid
export MIGRATOR_URL=http://127.0.0.1:9777
manage() { .venv/bin/migrator-manage --config-file "$CONF_FILE" "$@"; }

stop() {
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        fi
        rm -f "$PIDFILE"
    fi
    if [ -x .venv/bin/migrator-manage ]; then
        .venv/bin/migrator-manage sandbox down --state-dir "$SANDBOX"
    fi
    rm -rf "$STATE"
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

tools/install-deps.sh
if [ ! -x .venv/bin/migrator-manage ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r requirements.txt
    .venv/bin/pip install -q -e .
fi

mkdir -p "$STATE"
cat > "$CONF_FILE" <<CONF
[DEFAULT]
host = quickstart
state_path = $STATE
[database]
connection = sqlite:///$STATE/migrator.sqlite
[all]
sandbox_state_dir = $SANDBOX
[compute]
report_interval = 2
[libvirt]
virt_type = qemu
CONF

manage sandbox up --hosts 2 --guests-per-host 1 --state-dir "$SANDBOX"
.venv/bin/migrator-all --config-file "$CONF_FILE" > "$STATE/migrator-all.log" 2>&1 &
echo $! > "$PIDFILE"

echo "Waiting for migrator-all to register the sandbox hosts..."
for _ in $(seq 1 150); do
    if [ "$(manage host list -f json 2>/dev/null | grep -o '"state": "up"' | wc -l)" -ge 2 ]; then
        break
    fi
    sleep 0.2
done
manage host list
manage instance list
guest=$(manage instance list -f json | .venv/bin/python -c \
    'import json,sys; print(json.load(sys.stdin)["instances"][0]["name"])')
echo
echo "Live-migrating $guest:"
manage migration create "$guest" --type live --wait
manage instance list
echo
echo "migrator-all keeps running (log: $STATE/migrator-all.log, API: $MIGRATOR_URL)."
echo "Stop everything with: tools/quickstart.sh stop"
