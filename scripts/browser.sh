#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser tests when it is missing (the tests drive it
# with the npm package playwright-core). Without root or apt-get it says so and leaves it: those tests
# then skip, or fail under CI=true.
set -u
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: $CHROMIUM is missing; install Debian's chromium package (apt-get install -y chromium)" >&2
  exit 0
fi
echo "browser: installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } >/tmp/interlink-chromium-install.log 2>&1 \
  || echo "browser: installing chromium failed (see /tmp/interlink-chromium-install.log)" >&2
exit 0
