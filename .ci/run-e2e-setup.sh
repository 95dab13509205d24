#!/bin/sh
# Chromium for test/e2e comes from Debian, never from a tool's own download (see DESIGN.md).
set -eu
if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
/usr/bin/chromium --version
