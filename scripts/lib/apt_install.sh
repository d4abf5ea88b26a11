# shellcheck shell=bash
# Sourced by .ci/run and the container scripts: `apt_install PACKAGE...` installs Debian
# packages without letting their postinst scripts start services (a system nginx on :80,
# prometheus on :9090). A temporary /usr/sbin/policy-rc.d exiting 101 says no; it is removed
# again however the install ends. Runs in a subshell so the caller's EXIT trap is untouched.
apt_install() (
  set -euo pipefail
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
)
