#!/usr/bin/env bash
# Installs the system packages enginev2d's tests and demos need, only when missing.
# ENGINEV2_SKIP_CHROMIUM=1 / ENGINEV2_SKIP_NODE=1 leave out the browser / Node.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
id postgres >/dev/null 2>&1 || need+=(postgresql-15)
if [ "${ENGINEV2_SKIP_CHROMIUM:-}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ "${ENGINEV2_SKIP_NODE:-}" != "1" ]; then
  # The Node client's tests and the web demo (Debian's nodejs is >= 18, enough).
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
command -v git >/dev/null 2>&1 || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "missing system packages: ${need[*]} (run as root or: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's package starts a default cluster; enginev2d never uses it.
  if command -v pg_ctlcluster >/dev/null 2>&1; then pg_ctlcluster 15 main stop 2>/dev/null || true; fi
fi
