#!/usr/bin/env bash
# `make test`'s pytest. With arguments (PYTEST_ARGS, e.g. `-k s3`) one pytest runs them. Without, the suite runs
# as two pytest processes side by side: the end-to-end and runner tests spend their time in runner processes
# (CPU), the API, CRD, chart and operator tests mostly wait on the API server, so on 2 cores the two overlap well.
# The cluster is started here first, so neither process stops it under the other (tests/conftest.py stops only
# what it started), and it is stopped at the end when it was not running before.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
if [ $# -gt 0 ]; then
  exec "$bin/pytest" -ra "$@"
fi
was_running=1
"$bin/videogen-dev" status | grep -q stopped && was_running=0
"$bin/videogen-dev" cluster-up > /dev/null || exit 1
heavy=(tests/e2e tests/runner)
heavy_log=$(mktemp)
"$bin/pytest" -ra -p no:cacheprovider "${heavy[@]}" > "$heavy_log" 2>&1 &
heavy_pid=$!
"$bin/pytest" -ra -p no:cacheprovider "${heavy[@]/#/--ignore=}"
light_rc=$?
wait "$heavy_pid"
heavy_rc=$?
echo
echo "==================== ${heavy[*]} (run alongside) ===================="
cat "$heavy_log"
rm -f "$heavy_log"
if [ "$was_running" = 0 ]; then
  "$bin/videogen-dev" down > /dev/null
fi
# 5 is pytest's "no tests collected": a group that ran nothing is a failure here, not a pass.
[ "$light_rc" = 0 ] && [ "$heavy_rc" = 0 ]
