#!/bin/sh
# Set vhostguard up on a Debian machine: the system packages it needs, then a
# virtual environment in .venv (Debian's python3 refuses `pip install` outside
# one: PEP 668, "externally-managed-environment").
#
#   sh tools/setup.sh          vhostguard itself
#   sh tools/setup.sh --test   and what the test suite needs: apache2 (the
#                              tests start private instances), strace,
#                              Chromium (renders report --html), Prometheus
#                              and Alertmanager (tests/fleet), pytest
set -eu
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

need=""
# Debian splits venv (and its ensurepip) into python3-venv.
python3 -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
if [ "$with_tests" = 1 ]; then
    command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || need="$need apache2"
    command -v strace >/dev/null 2>&1 || need="$need strace"
    command -v chromium >/dev/null 2>&1 || need="$need chromium fonts-dejavu-core"
    command -v git >/dev/null 2>&1 || need="$need git"
    # contrib/prometheus is checked and run by tests/fleet with promtool, prometheus, amtool, alertmanager.
    command -v promtool >/dev/null 2>&1 || need="$need prometheus"
    command -v amtool >/dev/null 2>&1 || need="$need prometheus-alertmanager"
    # The compiled log scanner (optional: without these pip installs the pure-Python engine);
    # CI builds it, and tools/sanitize_scanner.sh rebuilds it under ASan/UBSan.
    command -v gcc >/dev/null 2>&1 || need="$need gcc libc6-dev"
    python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        2>/dev/null || need="$need python3-dev"
fi
if [ -n "$need" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update
    # shellcheck disable=SC2086  # the list is meant to split
    $sudo apt-get install -y --no-install-recommends $need
fi
if [ "$with_tests" = 1 ] && command -v apache2ctl >/dev/null 2>&1; then
    # Debian starts the packaged service on install; the tests use private
    # instances, so it must not hold ports or the pid file.
    apache2ctl stop >/dev/null 2>&1 || true
fi
if [ "$with_tests" = 1 ] && command -v systemctl >/dev/null 2>&1; then
    # The same for Prometheus and Alertmanager (9090, 9093): the fleet tests start private ones.
    systemctl stop prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "$with_tests" = 1 ]; then
    .venv/bin/python -m pip install --quiet -e '.[test]'
else
    .venv/bin/python -m pip install --quiet -e .
fi
