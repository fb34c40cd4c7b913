"""mbarl_sim: MuJoCo tasks for mbarl and an rclpy bridge that looks like a ros2_control arm + camera.

Headless rendering uses EGL unless MUJOCO_GL is already set; mujoco reads it on import, so it is
set here, before any submodule imports mujoco.
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
