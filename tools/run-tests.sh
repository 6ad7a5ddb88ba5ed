#!/usr/bin/env bash
# Runs the whole test suite (style, unit, functional) on a Debian 12 machine, as root:
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
exec .tox-runner/bin/tox -e pep8,py3,functional,docs "$@"
