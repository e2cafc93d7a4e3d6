#!/usr/bin/env bash
# Download, here, the cp312 manylinux wheels that benchmarks/gpu_check.sh installs on a bare
# GPU machine (python 3.12 + torch, no registry access): Stable-Baselines3, Gymnasium,
# Meta-World, MuJoCo, pydantic and what they import, at the versions installed here.
#
#     bash benchmarks/fetch_gpu_wheels.sh            # -> .gpu_wheels/ (git-ignored)
#
# --no-deps with an explicit list keeps the folder small: torch is on the GPU machine
# already, and the plotting / statistics / TensorBoard libraries of examples/ are left
# out (bench_training.py --stub-missing stands in for them; it writes no plots).
#
# The device tool carries at most 64 MiB per call, and these wheels are ~100 MiB
# (Meta-World's assets 37 MiB, SciPy 35 MiB, NumPy 17 MiB), so they come in two parts,
# each checked to stay under 60 MiB; carry one per call (a warm machine keeps what the
# first call installed):
#
#     run 1: carry [".gpu_wheels/part1"], bash benchmarks/gpu_check.sh --install-only
#     run 2: carry [".gpu_wheels/part2"], bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu_wheels
LIMIT_MIB=60
PART1=(numpy scipy pydantic pydantic-core annotated-types typing-inspection typing-extensions
  tqdm rich markdown-it-py mdurl pygments)
PART2=(stable-baselines3 gymnasium farama-notifications cloudpickle metaworld mujoco absl-py
  etils glfw)

download() {  # download <folder> <package>...
  local folder=$1
  shift
  local pins=()
  for name in "$@"; do
    version=$(python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
    pins+=("$name==$version")
  done
  echo "$folder: ${pins[*]}"
  mkdir -p "$folder"
  python -m pip download --quiet --dest "$folder" --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --abi cp312 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any "${pins[@]}" 2> >(grep -v "^WARNING: Location" >&2)
  total=$(du -sm "$folder" | cut -f1)
  echo "$folder: ${total} MiB (limit ${LIMIT_MIB} MiB; the device tool carries 64 MiB)"
  if [ "$total" -gt "$LIMIT_MIB" ]; then
    echo "fetch_gpu_wheels.sh: $folder is ${total} MiB, over ${LIMIT_MIB} MiB" >&2
    exit 1
  fi
}

rm -rf "$OUT"
download "$OUT/part1" "${PART1[@]}"
download "$OUT/part2" "${PART2[@]}"
ls -la "$OUT"/part1 "$OUT"/part2
