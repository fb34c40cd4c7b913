#!/usr/bin/env bash
# Installs everything mbarl needs that a fresh machine (Rust, Python 3.11, gcc, apt) lacks.
# Idempotent and fast when done: each part is skipped while its requirement list is unchanged.
#
#   scripts/setup.sh            # everything
#   scripts/setup.sh apt ros    # only some parts: apt | ros | sim | torch | torch-bench
# (torch-bench, Python PyTorch for the ALM benchmark's reference, is not part of "everything")
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(apt ros sim torch)
mkdir -p "$MBARL_CACHE/stamps"

# A part is up to date while the stamp named after the hash of its inputs exists.
stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
is_done() { [ -f "$MBARL_CACHE/stamps/$1.$2" ]; }
mark_done() { rm -f "$MBARL_CACHE/stamps/$1".*; touch "$MBARL_CACHE/stamps/$1.$2"; }

packages_from() { grep -v '^\s*#' "$1" | grep -v '^\s*$' | tr '\n' ' '; }

setup_apt() {
  local missing=()
  for p in $(packages_from scripts/apt-packages.txt); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  mbarl_log "apt: installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {
  [ -x "$1/bin/python" ] || { mbarl_log "creating venv $1"; python3 -m venv "$1"; "$1/bin/pip" install -q --upgrade pip; }
}

setup_ros() {
  local s; s=$(stamp_of scripts/requirements-ros.txt)
  is_done ros "$s" && return
  mbarl_log "ros: installing ROS 2 Jazzy (rclpy, Fast DDS, messages) into $MBARL_ROS_VENV"
  make_venv "$MBARL_ROS_VENV"
  "$MBARL_ROS_VENV/bin/pip" install -q -r scripts/requirements-ros.txt
  "$MBARL_ROS_PYTHON" -c 'import rclpy, sensor_msgs.msg, std_srvs.srv, rosidl_adapter'
  mark_done ros "$s"
}

setup_sim() {
  [ -f scripts/requirements-sim.txt ] || return 0
  local s; s=$(stamp_of scripts/requirements-sim.txt)
  is_done sim "$s" && return
  mbarl_log "sim: installing MuJoCo and simulation tools into $MBARL_ROS_VENV"
  make_venv "$MBARL_ROS_VENV"
  "$MBARL_ROS_VENV/bin/pip" install -q -r scripts/requirements-sim.txt
  mark_done sim "$s"
}

setup_torch() {
  local s; s=$(stamp_of scripts/requirements-torch.txt)
  is_done torch "$s" && [ -f "$LIBTORCH/lib/libtorch_cpu.so" ] && return
  mbarl_log "torch: installing PyTorch for tch into $MBARL_TORCH_VENV (about 1.2 GB, once)"
  make_venv "$MBARL_TORCH_VENV"
  # --no-deps: tch needs only libtorch and the two small CUDA runtime libraries it links.
  "$MBARL_TORCH_VENV/bin/pip" install -q --no-deps -r scripts/requirements-torch.txt
  [ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || { mbarl_log "torch: $LIBTORCH/lib/libtorch_cpu.so missing"; exit 1; }
  mark_done torch "$s"
}

setup_torch_bench() {
  setup_torch
  local s; s=$(stamp_of scripts/requirements-torch-bench.txt)
  is_done torch-bench "$s" && return
  mbarl_log "torch-bench: installing Python PyTorch's dependencies (CUDA libraries included, about 2.3 GB, once)"
  "$MBARL_TORCH_VENV/bin/pip" install -q --no-deps -r scripts/requirements-torch-bench.txt
  "$MBARL_TORCH_VENV/bin/python" -c 'import torch'
  mark_done torch-bench "$s"
}

for part in "${parts[@]}"; do
  case "$part" in
    apt) setup_apt ;;
    ros) setup_ros ;;
    sim) setup_sim ;;
    torch) setup_torch ;;
    torch-bench) setup_torch_bench ;;
    *) echo "setup.sh: unknown part '$part' (apt | ros | sim | torch | torch-bench)" >&2; exit 2 ;;
  esac
done
mbarl_log "setup done (${parts[*]})"
