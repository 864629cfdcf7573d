#!/usr/bin/env bash
# pm2 for the acceptance test of ecosystem.config.js (tests/acceptance/test_supervisors.py),
# from the npm registry into .venv/pm2 (gitignored), only when missing. Without npm the
# test is skipped with its reason; nothing else needs pm2.
set -euo pipefail
cd "$(dirname "$0")/.."
PM2_VERSION="${ENGINEV2_PM2_VERSION:-7}"
[ -x .venv/pm2/node_modules/.bin/pm2 ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the pm2 acceptance test will be skipped" >&2
  exit 0
fi
mkdir -p .venv/pm2
if ! npm install --prefix .venv/pm2 --no-audit --no-fund --silent "pm2@${PM2_VERSION}" >/dev/null; then
  echo "pm2 could not be installed from the npm registry: the pm2 acceptance test will be skipped" >&2
fi
