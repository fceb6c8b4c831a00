#!/usr/bin/env bash
# The GraphiQL browser test drives Debian's Chromium; install it when it is missing (CI runs as root).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser test..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
else
  echo "The browser test needs Chromium: sudo apt-get install chromium" >&2
  exit 1
fi
