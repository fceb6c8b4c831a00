#!/usr/bin/env bash
# Debian packages the tests drive for real: Chromium (the GraphiQL and /docs pages), nginx (the
# rolling-restart drill's load balancer) and redis-server (the store replicas share). Installed when
# missing (CI runs as root); never mocked. Debian's redis-server package does not start a server in a
# container without an init system; the tests start their own on free ports.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's ${missing[*]} for the tests..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
else
  echo "The tests need ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
