#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (slow tests included).
#   bash test/run_tests.sh            # everything
#   bash test/run_tests.sh -m "not slow" -x   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# Debian packages for the multi-host, SSH, firewall and Slurm tests (they skip themselves
# without).
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
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

"$PYTHON" -m pip install -q --disable-pip-version-check pytest pytest-timeout 2>&1 \
  | grep -v -i "running pip as the 'root' user" || true

exec "$PYTHON" -m pytest -ra "$@"
