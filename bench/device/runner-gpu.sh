#!/usr/bin/env bash
# The runner's GPU figures in one device call (issue 3's table: Wan2.1 1.3B and 14B I2V, LTX-Video 2B at their
# reference shapes, random weights with the real architectures). Prepared so a session lent a GPU spends its
# 15 device minutes measuring, not setting up:
#   here:   bash bench/device/fetch-wheels.sh
#   device: run(command="bash bench/device/runner-gpu.sh", carry=[".whl"], timeout_s=570)
# Results: $OUT/bench.jsonl (one `bench/runner_bench.py --json` line per configuration, or {"failed": ...}),
# $OUT/bench.log (stderr), $OUT/gpu.txt. Each configuration is its own process (clean GPU memory) with a time cap,
# so one failure or hang costs only its own slot. QUICK=1 QUICK_MODEL=<smoke folder> PYTHON=.venv/bin/python runs a
# tiny CPU smoke of the same path here (for checking the script; no wheels installed).
set -uo pipefail
out=${OUT:-/tmp/videogen-device-out}
mkdir -p "$out"
if [ -d .whl ] && [ "${QUICK:-0}" != 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" >&2; exit 1; }
  export PYTHONPATH=/tmp/site
fi
# The bench script imports the runner's code (runner/, common/) and the smoke tokenizer (dev/) from this copy.
export PYTHONPATH=$PWD/runner:$PWD/common:$PWD/dev${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
py=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  "$py" -c 'import torch, diffusers, transformers; print("torch", torch.__version__, "diffusers", diffusers.__version__, "transformers", transformers.__version__)'
} > "$out/gpu.txt" 2>&1

bench() {  # seconds, then the bench arguments
  local cap=$1; shift
  echo "== $*" >> "$out/bench.log"
  if ! timeout "$cap" "$py" bench/runner_bench.py --json "$@" >> "$out/bench.jsonl" 2>> "$out/bench.log"; then
    printf '{"failed": "%s", "cap_s": %s}\n' "$*" "$cap" >> "$out/bench.jsonl"
  fi
}

if [ "${QUICK:-0}" = 1 ]; then
  bench 300 "${QUICK_MODEL:?a smoke model folder}" --device cpu --steps 2 --frames 9 --width 64 --height 64
  bench 300 "$QUICK_MODEL" --device cpu --steps 2 --frames 9 --width 64 --height 64 --attention-backend native
  bench 300 "$QUICK_MODEL" --device cpu --steps 2 --frames 9 --width 64 --height 64 --speed fast
  cat "$out/bench.jsonl"
  exit 0
fi
# The caps add up to 550 s, so the whole table fits one 10-minute device call; the 14B run comes before the compile
# run, so a slow compile cannot cost the most expensive figure.
# Wan2.1-T2V-1.3B, 480x832, 81 frames: the runner's defaults (SDPA, no compile: --compile is opt-in here).
bench 90 wan2.1-t2v-1.3b --steps 8
# Wan2.1-I2V-14B-480P, 480x832, 81 frames (about 6 s a step: few steps).
bench 150 wan2.1-i2v-14b-480p --mode image-to-video --steps 3
# The reference combination: compiled blocks on the cuDNN attention kernel (first_step_s: the compile).
bench 150 wan2.1-t2v-1.3b --steps 8 --compile --compile-cache-dir /tmp/videogen-compile \
  --attention-backend _native_cudnn
# LTX-Video 2B, 512x704, 161 frames (masked attention: always SDPA, whatever is asked).
bench 90 ltx-video-2b --width 704 --height 512 --frames 161 --fps 24 --steps 8
# The fast preset (FirstBlockCache 0.2) on Wan 1.3B: compare step_median_s with the first line.
bench 70 wan2.1-t2v-1.3b --steps 8 --speed fast
cat "$out/bench.jsonl"
