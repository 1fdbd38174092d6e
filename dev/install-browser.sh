#!/usr/bin/env bash
# Debian's chromium for the /ui browser test (tests/e2e/test_ui.py drives it with playwright's executable_path).
# Idempotent: nothing happens when /usr/bin/chromium is there. Never a browser build of playwright's own: this
# machine reaches Debian's packages, not the browser download hosts.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing Debian's chromium for the /ui browser test" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium > /dev/null
