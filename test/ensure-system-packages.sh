#!/usr/bin/env bash
# Debian packages the tests drive for real: Chromium (the GraphiQL and /docs pages) and nginx (the
# rolling-restart drill's load balancer). Installed when missing (CI runs as root); never mocked.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's ${missing[*]} for the tests..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
else
  echo "The tests need ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
