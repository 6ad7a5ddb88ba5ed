#!/usr/bin/env bash
# Installs every Debian package migrator needs, on Debian 12 (bookworm), as root.
# Idempotent: does nothing (not even apt-get update) when all are installed.
# It only installs: services are started elsewhere (tools/start-services.sh),
# and no service is started by the packages' install scripts either.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
    # hypervisor: QEMU + libvirt, and what libvirt-python builds against
    qemu-system-x86 qemu-utils
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config
    # sandbox (migrator/sandbox): guest initramfs, namespaces, mounts, probes
    busybox-static cpio gzip util-linux mount iproute2 procps passwd
    # fault-injection suite: cutting the network between two sandbox hosts
    iptables
    # sandbox up --tls makes its CA and host certificates; the encryption tests capture
    # the loopback traffic between sandbox hosts
    openssl tcpdump
    # the service: message bus, databases, Python build
    rabbitmq-server postgresql mariadb-server
    # the API's TLS test makes a CA and a certificate with the openssl command
    openssl
    python3 python3-venv python3-dev gcc libc6-dev
    # the dashboard's browser tests (tests/functional/dashboard): headless Chromium driven
    # by Selenium through chromedriver
    chromium chromium-driver
    # benchmarks/api.py loads the API and its hello-world baseline with ApacheBench (ab)
    apache2-utils
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: must run as root" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps.sh: all ${#PACKAGES[@]} packages are installed"
    exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"

# Keep the packages' maintainer scripts from starting services (no systemd here,
# and starting is not this script's job): the usual policy-rc.d, if none exists.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
echo "install-deps.sh: done"
