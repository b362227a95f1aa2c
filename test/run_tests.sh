#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (slow tests included).
#   bash test/run_tests.sh            # everything
#   bash test/run_tests.sh -m "not slow" -x   # extra arguments go to pytest
#   FJD_TEST_PROCESSES=0 bash test/run_tests.sh   # one process, no pytest-xdist
# The tests mostly wait on daemons, so they run in 6 processes (pytest-xdist) even on 2
# cores; tests marked exclusive run alone (conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# Debian packages for the multi-host, SSH, firewall, Slurm and browser tests (they skip
# themselves without).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh >/dev/null || need+=(openssh-client)
  command -v sshfs >/dev/null || need+=(sshfs)
  command -v parallel >/dev/null || need+=(parallel)
  command -v slurmctld >/dev/null || need+=(slurm-wlm munge)
  command -v unshare >/dev/null || need+=(util-linux)
  # the hints-blocked test drops fjd's UDP hints with real firewall rules
  command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || need+=(iptables)
  # test_report.py loads `fjd report`'s page in a real headless browser
  command -v chromium >/dev/null || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# The tests run in a virtual environment of their own, made once and kept
# (FJD_TEST_VENV=DIR to choose where, FJD_TEST_VENV=none for $PYTHON itself): isolated from
# the machine's site-packages, whose .pth files every Python start runs. The suite starts
# a few thousand Pythons (commands, daemons, jobs); on a machine whose site-packages import
# a package at start-up (certifi, say), that is over a minute of CPU on 2 cores.
venv="${FJD_TEST_VENV:-${TMPDIR:-/tmp}/fjd-test-venv-$(id -u)-$("$PYTHON" -c \
  'import sys; print("%d.%d" % sys.version_info[:2])')}"
if [ "$venv" != none ]; then
  if [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv" >/dev/null 2>&1; then
    PYTHON="$venv/bin/python"
    export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"  # (activated: jobs' python3 too)
  else
    echo "run_tests.sh: cannot make a virtual environment in $venv; using $PYTHON" >&2
  fi
fi
quiet_pip() {
  "$PYTHON" -m pip install -q --disable-pip-version-check "$@" 2>&1 | \
    grep -v -i -e "running pip as the 'root' user" -e "^WARNING: Location" || true
}
"$PYTHON" -c "import pytest, pytest_timeout, xdist" 2>/dev/null || \
  quiet_pip pytest pytest-timeout pytest-xdist

# Snakemake and its generic cluster executor, for test_snakemake.py only (fjd itself needs
# neither); skipped when present already, and on Pythons older than Snakemake 8 wants
if "$PYTHON" -c "import sys; sys.exit(sys.version_info < (3, 11))" && \
    ! "$PYTHON" -c "import snakemake, snakemake_executor_plugin_cluster_generic" 2>/dev/null; then
  quiet_pip snakemake snakemake-executor-plugin-cluster-generic
fi

processes="${FJD_TEST_PROCESSES:-6}"
parallel=()
if [ "$processes" != 0 ] && "$PYTHON" -c "import xdist" 2>/dev/null; then
  parallel=(-n "$processes" --dist worksteal)  # (conftest.py: long tests at each one's head)
fi
exec "$PYTHON" -m pytest -ra ${parallel[@]+"${parallel[@]}"} "$@"
