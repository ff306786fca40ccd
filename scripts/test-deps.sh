#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real, if any is missing. Idempotent
# and quick when everything is there. Used by `npm test` (pretest) and by .ci/run.
#   tini               subreaper for tests that daemonize (PID 1 here does not reap)
#   openssl            self-signed certificates for the https/http2 example tests
#   systemd-nspawn     boots the real systemd the systemd unit tests drive (systemd-container)
#   nsenter            runs systemctl inside that container (util-linux)
#   systemd-notify     the fallback sd_notify transport, tested as such (systemd)
#   g++, make, python3 build forkover's native sd_notify addon at npm install (node-gyp);
#                      /usr/bin/python3 also runs test/fixtures/notify-receiver.py
#   aarch64-linux-gnu-gcc  cross-compiles the linux-arm64 prebuilt addons at npm pack
#                      (scripts/prebuild.mjs; gcc-aarch64-linux-gnu, with its libc headers)
#   start-stop-daemon  drives the generated LSB init script (dpkg; essential, listed for clarity)
#   openrc-run         runs the generated OpenRC script (openrc; adds insserv, librc1, libeinfo1, removes nothing)
#   logrotate          rotates a log through a handoff with the generated snippet
# Add a line "command:package" below for each program a test needs (or "/absolute/file:package").
set -euo pipefail
needs=(
  tini:tini
  openssl:openssl
  systemd-nspawn:systemd-container
  nsenter:util-linux
  /usr/lib/systemd/systemd:systemd
  systemd-notify:systemd
  g++:g++
  make:make
  /usr/bin/python3:python3
  aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu
  /usr/aarch64-linux-gnu/include/stdio.h:libc6-dev-arm64-cross
  /usr/sbin/start-stop-daemon:dpkg
  /sbin/openrc-run:openrc
  /usr/sbin/logrotate:logrotate
)
missing=()
for item in "${needs[@]}"; do
  cmd=${item%%:*}; pkg=${item##*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -e "$cmd" ]; then missing+=("$pkg"); fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
