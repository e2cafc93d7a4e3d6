#!/usr/bin/env bash
# The GPU check of issue #13, in at most ~5 minutes on a cold GPU machine (no compile cache):
#   1. update time at batch 1,280 (MT10 shapes): eager vs torch.compile vs CUDA graphs, for
#      Soft-Modular Shallow and Deep and the MLP baselines MT-SAC and MT-MH-SAC
#      (benchmarks/bench_compile.py);
#   2. the whole training loop of examples.train (MT10, paper preset) for a few thousand env
#      steps with env workers, and the projected wall time of the paper runs
#      (benchmarks/bench_training.py).
#
#     bash benchmarks/gpu_check.sh                   # the device: cuda if present, else cpu
#     bash benchmarks/gpu_check.sh --device cpu      # on a CPU machine
#     bash benchmarks/gpu_check.sh --tiny            # CI budget (or MODNET_GPU_CHECK_TINY=1)
#     bash benchmarks/gpu_check.sh --install-only    # only install the carried wheels
#
# A bare machine (python 3.12 + torch, nothing else, no registry) gets its packages from the
# wheels benchmarks/fetch_gpu_wheels.sh downloads into .gpu_wheels/part1 and part2: each
# present part is installed first (pip --no-index --no-deps). The repository is used in
# place (PYTHONPATH), and the plotting/statistics/TensorBoard libraries of examples/ are
# stubbed where missing (bench_training.py --stub-missing). GPU_CHECK_OUT=DIR also writes
# the reports as JSON there. Each section has its own time limit, so the whole stays
# within budget: a section that runs out says so and the next one starts.
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=auto
TINY=${MODNET_GPU_CHECK_TINY:-0}
INSTALL_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    *) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || PY=python

NEEDED="import numpy, scipy, pydantic, tqdm, rich, stable_baselines3, gymnasium, metaworld, mujoco"
for part in .gpu_wheels/part1 .gpu_wheels/part2; do
  if compgen -G "$part/*.whl" >/dev/null && ! "$PY" -c "$NEEDED" 2>/dev/null; then
    echo "== installing the wheels of $part"
    "$PY" -m pip install --quiet --no-index --no-deps --find-links "$part" "$part"/*.whl || exit 1
  fi
done
[ "$INSTALL_ONLY" = 1 ] && exit 0

export PYTHONPATH="$PWD:$PWD/integrations${PYTHONPATH:+:$PYTHONPATH}"
export MODNET_BENCH_STUB_MISSING=1
if [ "$DEVICE" = auto ]; then
  DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
fi
OUT=${GPU_CHECK_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), device $DEVICE"
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')"

section() {  # section <seconds> <title> <command...>
  local limit=$1 title=$2
  shift 2
  echo "== $title (limit ${limit} s)"
  local start=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  if [ $rc = 124 ]; then
    echo "== $title: ran out of its ${limit} s"
  elif [ $rc != 0 ]; then
    echo "== $title: failed (exit $rc)"
    FAILED=1
  fi
  echo "== $title: $((SECONDS - start)) s"
}
FAILED=0

if [ "$TINY" = 1 ]; then
  section 120 "update time (tiny)" "$PY" benchmarks/bench_compile.py --device "$DEVICE" \
    --methods soft-shallow --modes eager --tasks 2 --batch-per-task 4 \
    --steps 2 --repeats 1 --warmup 1 --json "$OUT/compile.json"
  section 240 "whole loop (tiny)" "$PY" benchmarks/bench_training.py --device "$DEVICE" \
    --mode conditioned --tasks reach-v3 push-v3 --steps 40 --warmup-steps 20 --eval-freq 40 \
    --eval-episodes 1 --batch-per-task 4 --replay-size 500 --env-workers 2 \
    --json "$OUT/training.json"
else
  # Eager and CUDA graphs (on a CPU: compiled) for every network, then inductor without
  # CUDA graphs for Shallow: each compiled model is a cold compile, the budget holds ~5.
  FAST=cudagraphs
  [ "$DEVICE" = cuda ] || FAST=compiled
  section 120 "update time at batch 1,280: eager vs $FAST" \
    "$PY" benchmarks/bench_compile.py --device "$DEVICE" \
    --methods soft-shallow soft-deep mt-sac mt-mh-sac --modes eager "$FAST" \
    --steps 20 --repeats 3 --warmup 3 --json "$OUT/compile.json"
  if [ "$DEVICE" = cuda ]; then
    section 45 "update time at batch 1,280: Shallow, eager vs compiled without CUDA graphs" \
      "$PY" benchmarks/bench_compile.py --device "$DEVICE" --methods soft-shallow \
      --modes eager compiled --steps 20 --repeats 3 --warmup 3 --json "$OUT/compile_inductor.json"
  fi
  section 100 "whole loop: MT10 paper preset, env workers auto, eager update" \
    "$PY" benchmarks/bench_training.py --device "$DEVICE" --env-workers auto \
    --steps 3000 --warmup-steps 1000 --json "$OUT/training.json"
fi
# The MT10 projection with Shallow's fastest measured update in place of the loop's eager
# one: serial as the loop runs now, and with collection and evaluation fully overlapped
# with the updates (worker processes; not implemented for evaluation yet).
if [ -f "$OUT/training.json" ] && [ -f "$OUT/compile.json" ]; then
  "$PY" - "$OUT" <<'PYEOF'
import json
import sys

out = sys.argv[1]
training = json.load(open(f"{out}/training.json"))
update = json.load(open(f"{out}/compile.json"))["results"].get("soft-shallow")
if update is not None:
    mode, ms = min(update["ms_per_update"].items(), key=lambda item: item[1])
    p = training["projection"]["MT10"]
    updates_h = p["updates"] * ms / 1e3 / 3600
    other_h = p["collection_h"] + (p["evaluation_h"] or 0.0)
    print(
        f"== MT10 paper run with Shallow's {mode} update ({ms:.1f} ms): serial "
        f"{updates_h + other_h:.1f} h (updates {updates_h:.1f} + collection and evaluation "
        f"{other_h:.1f}); fully overlapped {max(updates_h, other_h):.1f} h (target 3 h)"
    )
PYEOF
fi
echo "== reports: $OUT"
exit $FAILED
