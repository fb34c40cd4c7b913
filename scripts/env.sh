# Shared environment for mbarl scripts: source it, don't run it.
# Everything installed lives under $MBARL_CACHE (default ~/.cache/mbarl), outside the clone,
# so a fresh clone on a set-up machine builds and tests fast.

MBARL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MBARL_ROOT
export MBARL_CACHE="${MBARL_CACHE:-$HOME/.cache/mbarl}"
# The Python venv with ROS 2 Jazzy (rclpy, Fast DDS, message packages), MuJoCo, rosbags, pytest.
export MBARL_ROS_VENV="${MBARL_ROS_VENV:-$MBARL_CACHE/venv-ros}"
export MBARL_ROS_PYTHON="${MBARL_ROS_PYTHON:-$MBARL_ROS_VENV/bin/python}"
# PyTorch 2.13.0 for tch 0.26 (ARCHITECTURE.md §6), in its own venv, installed --no-deps.
export MBARL_TORCH_VENV="${MBARL_TORCH_VENV:-$MBARL_CACHE/venv-torch}"
export LIBTORCH="${LIBTORCH:-$MBARL_TORCH_VENV/lib/python3.11/site-packages/torch}"
export LIBTORCH_BYPASS_VERSION_CHECK="${LIBTORCH_BYPASS_VERSION_CHECK:-0}"
# Cargo's target dir outside the clone: repeat CI runs reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MBARL_CACHE/target}"
# Headless MuJoCo rendering.
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# Large messages (640x480 images) from Fast DDS peers need bigger socket buffers.
export FASTDDS_BUILTIN_TRANSPORTS="${FASTDDS_BUILTIN_TRANSPORTS:-DEFAULT?sockets_size=4194304}"
# Fast DDS is the rmw of the PyPI ROS 2 wheels.
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"

mbarl_log() { printf '\033[1m[mbarl]\033[0m %s\n' "$*" >&2; }
