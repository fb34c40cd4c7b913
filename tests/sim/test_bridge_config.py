"""Bridge parameters: defaults from sim/config/bridge.yaml, overridable by --params-file and -p."""
import pytest

from mbarl_sim.config import load_defaults
from sim_rosprobe import Bridge, stamp_s


def test_defaults_file_has_the_documented_parameters():
    d = load_defaults()
    assert d["control_rate"] == 20.0 and d["joint_state_rate"] == 100.0
    assert d["command_timeout"] == 0.5 and d["lockstep"] is False
    assert d["joint_names"] == ["joint1", "joint2", "joint3", "joint4"]
    assert len(d["joint_lower"]) == len(d["joint_upper"]) == 4
    assert d["camera_frame_id"] == "camera_optical_frame"
    assert d["command_topic"] == "/arm_controller/commands"


def test_params_file_and_ros_args_override(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("sim_bridge:\n  ros__parameters:\n    lockstep: true\n    task: door\n"
                      "    image_width: 32\n    image_height: 24\n")
    # control_rate given as an integer on purpose: accepted for a float parameter
    b = Bridge("--params-file", str(params), "-p", "control_rate:=10")
    try:
        p = b.ready().probe
        assert p.until(lambda: all(p.last(t) is not None for t in (
            "/camera/image_raw", "/camera/camera_info", "/sim/task_state")))
        img, info = p.last("/camera/image_raw"), p.last("/camera/camera_info")
        assert (img.width, img.height) == (32, 24) and (info.width, info.height) == (32, 24)
        assert "door_angle" in p.last("/sim/task_state").layout.dim[0].label
        t0 = stamp_s(p.last("/joint_states"))
        p.send(list(p.last("/joint_states").position))
        assert p.until(lambda: stamp_s(p.last("/joint_states")) > t0)
        assert stamp_s(p.last("/joint_states")) - t0 == pytest.approx(0.1, abs=1e-6)
    finally:
        assert b.stop() == 0
