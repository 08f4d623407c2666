#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks start for real (servers, tools).
# Idempotent: only missing packages are installed; `apt-get update` runs only when needed.
set -euo pipefail

# Extra package names on the command line are installed too (the Makefile passes python3-venv
# when the interpreter cannot create virtual environments).
PACKAGES=(
  "$@"
  openssl          # s_client / s_server / verify: peers the tests compare against
  haproxy          # TCP load balancer in front of backends serving different chains
  nginx-light      # benchmark target and per-SNI / RSA+ECDSA server
  default-jre-headless  # keytool, to check exported Java truststores
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package post-install scripts try to start services; in containers without an init system
# that fails harmlessly, and the tests start their own instances on loopback anyway.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
