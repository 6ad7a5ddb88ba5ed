#!/usr/bin/env bash
# The whole system on one fresh Debian 12 machine, as root, on the embedded defaults:
# installs what is needed, starts a local Keystone (tools/keystone.sh: users admin and
# reader, the `migration` endpoint in its catalog), brings up a 2-host sandbox cluster with
# one running guest, starts migrator-all (SQLite database, in-process bus, Keystone
# authentication) and Horizon with the migrator dashboard (tools/horizon.sh: no Apache, no
# memcached), live-migrates the guest through the REST API as the Keystone admin and
# shows the finished migration with its history.
#
#   tools/quickstart.sh          bring it up and migrate (leaves it running to play with)
#   tools/quickstart.sh stop     stop Horizon, migrator-all and Keystone, tear the sandbox down
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=/var/lib/migrator-quickstart
SANDBOX=/var/lib/migrator-sandbox
CONF_FILE=$STATE/migrator.conf
PIDFILE=$STATE/migrator-all.pid
KEYSTONE=$STATE/keystone
HORIZON=$STATE/horizon
API_URL=http://127.0.0.1:9777
DASHBOARD_PORT=8000
# The CLI finds the API in Keystone's catalog, as an OpenStack client does.
unset MIGRATOR_URL OS_CLOUD
manage() { .venv/bin/migrator-manage --config-file "$CONF_FILE" "$@"; }

stop() {
    if [ -d "$HORIZON" ]; then
        tools/horizon.sh stop --state-dir "$HORIZON"
    fi
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        fi
        rm -f "$PIDFILE"
    fi
    if [ -d "$KEYSTONE" ]; then
        tools/keystone.sh stop --state-dir "$KEYSTONE"
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

started=$(date +%s)
tools/install-deps.sh
mkdir -p "$STATE"
# Keystone installs into a venv of its own and bootstraps (the first time on a machine:
# a minute or two) while migrator's venv is made and the sandbox comes up.
tools/keystone.sh start --state-dir "$KEYSTONE" --migrator-url "$API_URL" \
    > "$STATE/keystone-start.log" 2>&1 &
keystone_start=$!
# Horizon and the plugin install into a venv of their own (the first time: a minute or two)
# at the same time; Keystone need not answer before Horizon serves its login page.
tools/horizon.sh start --state-dir "$HORIZON" --port "$DASHBOARD_PORT" \
    --keystone-url http://127.0.0.1:5000/v3 > "$STATE/horizon-start.log" 2>&1 &
horizon_start=$!
if [ ! -x .venv/bin/migrator-manage ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -r requirements.txt
    .venv/bin/pip install -q -e .
fi

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
if ! wait "$keystone_start"; then
    cat "$STATE/keystone-start.log" >&2
    echo "quickstart: Keystone did not start (see above); tools/quickstart.sh stop cleans up" >&2
    exit 1
fi
# auth_strategy = keystone, and the [keystone_authtoken] service user tools/keystone.sh made.
cat "$KEYSTONE/migrator-keystone.conf" >> "$CONF_FILE"

.venv/bin/migrator-all --config-file "$CONF_FILE" > "$STATE/migrator-all.log" 2>&1 &
echo $! > "$PIDFILE"

# From here on the CLI is the Keystone admin (OS_AUTH_URL, OS_USERNAME, ...).
# shellcheck disable=SC1091
. "$KEYSTONE/admin-openrc"
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
if ! wait "$horizon_start"; then
    cat "$STATE/horizon-start.log" >&2
    echo "quickstart: Horizon did not start (see above); tools/quickstart.sh stop cleans up" >&2
    exit 1
fi

token_request='{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "'$OS_PASSWORD'"}}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}'
cat <<DONE

Done in $(( $(date +%s) - started )) s. migrator-all keeps running (log: $STATE/migrator-all.log),
API $API_URL with auth_strategy = keystone, Keystone $OS_AUTH_URL
(users admin and reader; passwords in $KEYSTONE/credentials.json).

The dashboard: http://127.0.0.1:$DASHBOARD_PORT/ (Admin > Migrations), log in as
    admin / $OS_PASSWORD
or, to look without changing anything, as
    reader / $(. "$KEYSTONE/reader-openrc" && echo "$OS_PASSWORD")
Horizon's log: $HORIZON/horizon.log

The CLI as the Keystone admin (reader-openrc: the reader, who may only read); it finds the
API in Keystone's catalog:
    . $KEYSTONE/admin-openrc
    .venv/bin/migrator-manage migration list
or with clouds.yaml (clouds migrator-admin and migrator-reader):
    export OS_CLIENT_CONFIG_FILE=$KEYSTONE/clouds.yaml
    .venv/bin/migrator-manage --os-cloud migrator-reader host list

The API with a token (without one: 401):
    TOKEN=\$(curl -si $OS_AUTH_URL/auth/tokens -H 'Content-Type: application/json' \\
        -d '$token_request' \\
        | awk -F': ' 'tolower(\$1) == "x-subject-token" {print \$2}' | tr -d '\r')
    curl -H "X-Auth-Token: \$TOKEN" $API_URL/v1/migrations

Stop everything with: tools/quickstart.sh stop
DONE
