#!/usr/bin/env bash
# Downloads bench/device/wheels.txt as CPython 3.12 x86-64 wheels into .whl/ (git-ignored), for a device call to
# carry. Run here, where PyPI is reachable; the device machine reaches nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl
grep -v '^#' bench/device/wheels.txt | xargs python3 -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl
du -sh .whl
