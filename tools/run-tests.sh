#!/usr/bin/env bash
# Runs the whole test suite (style, unit, functional, the dashboard plugin's) on a Debian 12
# machine, as root:
# installs the Debian packages, starts RabbitMQ/PostgreSQL/MariaDB when they are not running,
# and runs tox (style, unit, functional tests, and the documentation build). The functional
# tests bring up and tear down their own sandbox cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/start-services.sh

if [ ! -x .tox-runner/bin/tox ]; then
    python3 -m venv .tox-runner
    .tox-runner/bin/pip install -q tox
fi
# tests/functional/dashboard (in the functional env) drive the dashboard in headless Chromium
# against Keystone, Horizon with the plugin, migrator and the sandbox.
.tox-runner/bin/tox -e pep8,py3,functional,docs "$@"
# The dashboard plugin is a distribution of its own: its unit tests (Horizon's test
# framework) and style check run from its tox.ini.
exec .tox-runner/bin/tox -c dashboard/tox.ini -e py3,pep8
