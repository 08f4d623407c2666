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
  libnginx-mod-mail  # nginx's mail proxy: imaps/smtps greeting after TLS (bench_attribution.py)
  default-jre-headless  # keytool, to check exported Java truststores; java, whose ClientHello the java-17 profile is
  gnutls-bin       # gnutls-serv: a second TLS server implementation for the engines' agreement tests
  curl             # whose ClientHello the curl-openssl3 profile is
  # Real STARTTLS peers, each started by a test fixture on its own loopback port:
  slapd            # ldap StartTLS and ldaps
  prosody          # xmpp and xmpp-server
  postgresql       # postgres SSLRequest
  mariadb-server   # mysql CLIENT_SSL (creates the mysql user)
  inspircd         # irc STARTTLS (670)
  xrdp             # rdp X.224 TLS negotiation
  chromium         # loads the HTML report in the browser test
  prometheus prometheus-alertmanager  # scrape the exporter, lint its exposition, take alerts
  postfix          # smtp STARTTLS
  dovecot-imapd dovecot-pop3d dovecot-managesieved dovecot-lmtpd  # imap, pop3, sieve, lmtp
  inn2             # nntp (nnrpd)
  proftpd-core proftpd-mod-crypto  # ftp AUTH TLS (mod_tls)
  man-db zsh fish  # `man certcensus` and shell completion, tested in the real programs
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
# Keep package scripts from starting the system's own instances of these servers (the usual
# policy-rc.d convention): the tests run their own, and idle daemons would only cost CI time.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  added_policy=yes
fi
trap '[ -n "$added_policy" ] && $SUDO rm -f "$policy"' EXIT
# Postfix asks what kind of mail server it is; "Local only" writes a main.cf, which inn2's
# post-install (newaliases) needs.
echo "postfix postfix/main_mailer_type select Local only" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" \
  >/dev/null || true
# inn2's post-install fails when the host name has no domain (common in containers): give INN a
# domain and finish configuring.
if ! dpkg-query -W -f='${Status}' inn2 2>/dev/null | grep -q "install ok installed" \
   && [ -f /etc/news/inn.conf ]; then
  $SUDO sed -i 's/^#* *domain:.*/domain: localdomain/' /etc/news/inn.conf
  $SUDO dpkg --configure -a >/dev/null
fi
failed=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || failed+=("$package")
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "could not install Debian packages: ${failed[*]}" >&2
  exit 1
fi
