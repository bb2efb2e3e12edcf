#!/usr/bin/env bash
# Installs what the test suite needs from Debian: Chromium for the browser tests, Caddy to check
# the reverse-proxy recipe in deploy/ with its own `caddy validate`.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing: ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (the tests need them)." >&2
    exit 1
fi
echo "Installing Debian's ${missing[*]} for the tests…"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
