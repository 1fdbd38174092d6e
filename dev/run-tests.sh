#!/usr/bin/env bash
# `make test`'s pytest. With arguments (PYTEST_ARGS, e.g. `-k s3`) one pytest runs them. Without, the suite runs
# as three pytest processes side by side: the end-to-end and runner tests spend their time in runner processes
# (CPU), the image and chart tests in image builds and chart installs, the API, CRD and operator tests mostly
# wait on the API server, so on 2 cores they overlap well.
# The cluster is started here first, so no process stops it under another (tests/conftest.py stops only
# what it started), and it is stopped at the end when it was not running before.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
if [ $# -gt 0 ]; then
  exec "$bin/pytest" -ra "$@"
fi
was_running=1
"$bin/videogen-dev" status | grep -q stopped && was_running=0
# In container mode cluster-up first builds the images from this checkout (about a second when nothing changed);
# its output (the builds' too) is shown only when it fails.
up_log=$(mktemp)
if ! "$bin/videogen-dev" cluster-up > "$up_log" 2>&1; then
  cat "$up_log"
  rm -f "$up_log"
  exit 1
fi
rm -f "$up_log"
# Two groups run alongside the main one: the end-to-end and runner tests (runner processes, CPU), and the image
# and chart tests (image builds, then mostly waiting on installs); the rest (API, CRD, operator) runs in front.
heavy=(tests/e2e tests/runner)
images=(tests/images tests/helm)
heavy_log=$(mktemp)
images_log=$(mktemp)
args=(-ra -p no:cacheprovider --durations=10)
"$bin/pytest" "${args[@]}" "${heavy[@]}" > "$heavy_log" 2>&1 &
heavy_pid=$!
"$bin/pytest" "${args[@]}" "${images[@]}" > "$images_log" 2>&1 &
images_pid=$!
"$bin/pytest" "${args[@]}" "${heavy[@]/#/--ignore=}" "${images[@]/#/--ignore=}"
light_rc=$?
wait "$images_pid"
images_rc=$?
wait "$heavy_pid"
heavy_rc=$?
show() {  # log, then the group's paths
  local log=$1
  shift
  echo
  echo "==================== $* (run alongside) ===================="
  cat "$log"
  rm -f "$log"
}
show "$heavy_log" "${heavy[@]}"
show "$images_log" "${images[@]}"
if [ "$was_running" = 0 ]; then
  "$bin/videogen-dev" down > /dev/null
fi
# 5 is pytest's "no tests collected": a group that ran nothing is a failure here, not a pass.
[ "$light_rc" = 0 ] && [ "$images_rc" = 0 ] && [ "$heavy_rc" = 0 ]
