#!/usr/bin/env bash
# A local Keystone 30 (PyPI, SQLite, fernet tokens, waitress on 127.0.0.1) for the functional
# tests and the quickstart: see migrator/sandbox/keystone.py.
#
#   tools/keystone.sh start [--state-dir DIR] [--port 5000] [--migrator-url URL]
#   tools/keystone.sh stop  [--state-dir DIR]
#
# start installs Keystone into a venv of its own once (/var/cache/migrator/keystone-venv,
# or $MIGRATOR_KEYSTONE_VENV), bootstraps it once per state directory, serves it, makes
# sure of the users migrator (service), admin and reader and of the `migration` service
# and endpoint, and prints where clouds.yaml, the openrc files and the [keystone_authtoken]
# snippet for migrator are. Running it again only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python3 -m migrator.sandbox.keystone "$@"
