"""The sim's dependencies are installed (a missing one fails here, by name, never skips)."""
import importlib

import pytest

MODULES = ["mujoco", "numpy", "yaml", "simplejpeg", "rclpy", "sensor_msgs.msg", "std_msgs.msg",
           "std_srvs.srv", "trajectory_msgs.msg", "rosgraph_msgs.msg", "builtin_interfaces.msg"]


@pytest.mark.parametrize("name", MODULES)
def test_importable(name):
    importlib.import_module(name)


def test_mujoco_version_pinned():
    import mujoco
    assert mujoco.__version__ == "4.0.0", f"mujoco {mujoco.__version__}; the project pins 4.0.0"
