#!/usr/bin/env bash
# A local Horizon 27 with the migrator dashboard plugin (dashboard/), for the quickstart and
# the browser tests: see migrator/sandbox/horizon.py.
#
#   tools/horizon.sh start --keystone-url URL [--state-dir DIR] [--port 8000]
#   tools/horizon.sh stop  [--state-dir DIR]
#
# start installs Horizon and the plugin into a venv of their own once
# (/var/cache/migrator/horizon-venv, or $MIGRATOR_HORIZON_VENV), writes the settings (signed
# cookie sessions, a local memory cache, no Apache, no memcached), collects and compresses
# the static files when they changed, serves it on 127.0.0.1 and prints its URL and log.
set -euo pipefail
cd "$(dirname "$0")/.."
exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python3 -m migrator.sandbox.horizon "$@"
