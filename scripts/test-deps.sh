#!/usr/bin/env bash
# Installs the Debian packages the test suite runs against: a real ACME CA
# (Pebble, with its DNS stand-in), and for the example blog's quality tests
# Chromium (Lighthouse drives it) and a Java runtime (the Nu HTML Checker),
# systemd for `systemd-analyze`, which checks deploy/berth.service
# (systemd need not be running), and Docker Compose, whose `config -q`
# checks deploy/compose.yaml (no Docker engine needed); also aiosmtpd, the
# SMTP server the e-mail notification tests deliver to over STARTTLS with a
# login (OpenSMTPD in Debian 12 cannot do TLS with OpenSSL 3).
# Runs before `npm test`; does nothing when they are already there.
set -euo pipefail

missing=()
command -v pebble >/dev/null 2>&1 || missing+=(pebble)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Installed without recommends, Chromium brings no font; pages need one to render text.
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# Either Compose will do: the `docker compose` plugin or Debian 12's Compose 1 (docker-compose).
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# Debian's own Python, which the package installs aiosmtpd for (test/helpers/smtp-server.ts runs it).
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "Installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
