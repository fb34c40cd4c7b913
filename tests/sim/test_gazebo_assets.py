"""Gazebo assets: the push world SDF is valid (Debian's sdformat12 via `ign sdf -k`) and matches the
MuJoCo arm/camera; the ros_gz_bridge YAML maps to the MuJoCo bridge's topic names and types; the
command relay for Gazebo validates and forwards commands. Gazebo itself is not run here."""
import math
import py_compile
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import yaml
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from mbarl_sim import arm
from mbarl_sim.config import load_defaults
from mbarl_sim.env import SimEnv
from sim_rosprobe import SIM_DIR, SimProcess

GZ = SIM_DIR / "gazebo"
WORLD = GZ / "push_world.sdf"


def test_sdf_is_valid_for_sdformat():
    ign = shutil.which("ign")
    assert ign, "`ign` not found: apt-get install ignition-tools libsdformat-dev (sdformat12 CLI)"
    r = subprocess.run([ign, "sdf", "-k", str(WORLD)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Valid" in r.stdout, r.stdout + r.stderr
    assert "Error" not in r.stdout + r.stderr


def _world():
    return ET.parse(WORLD).getroot().find("world")


def _pose(el):
    p = el.find("pose")
    return np.array([float(v) for v in p.text.split()]) if p is not None else np.zeros(6)


def test_arm_matches_the_mujoco_arm():
    model = _world().find("model[@name='mbarl_arm']")
    joints = {j.get("name"): j for j in model.findall("joint") if j.get("type") == "revolute"}
    assert sorted(joints) == list(arm.JOINT_NAMES)
    axes = {"joint1": "0 0 1", "joint2": "0 1 0", "joint3": "0 1 0", "joint4": "0 1 0"}
    for i, name in enumerate(arm.JOINT_NAMES):
        j = joints[name]
        assert j.find("axis/xyz").text.split() == axes[name].split()
        assert float(j.find("axis/limit/lower").text) == arm.LOWER[i]
        assert float(j.find("axis/limit/upper").text) == arm.UPPER[i]
    links = {l.get("name"): _pose(l)[2] for l in model.findall("link")}
    assert math.isclose(links["link2"], arm.SHOULDER_Z)
    assert math.isclose(links["link3"] - links["link2"], arm.UPPER_ARM)
    assert math.isclose(links["link4"] - links["link3"], arm.FOREARM)
    paddle = model.find("link[@name='link4']/collision[@name='paddle_collision']")
    assert math.isclose(_pose(paddle)[2], arm.TOOL)
    plugins = {p.get("name"): p for p in model.findall("plugin")}
    jsp = plugins["gz::sim::systems::JointStatePublisher"]
    assert [e.text for e in jsp.findall("joint_name")] == list(arm.JOINT_NAMES)
    jtc = plugins["gz::sim::systems::JointTrajectoryController"]
    assert [e.text for e in jtc.findall("joint_name")] == list(arm.JOINT_NAMES)
    home = SimEnv("push", render=False).joint_positions()   # seed 0 rest pose, within noise
    init = np.array([float(e.text) for e in jtc.findall("initial_position")])
    assert np.allclose(init, home, atol=0.1)


def test_camera_matches_the_mujoco_camera():
    cam = _world().find("model[@name='camera']")
    sensor = cam.find("link/sensor")
    assert sensor.get("type") == "camera"
    assert sensor.find("topic").text == "/camera/image_raw"
    assert sensor.find("camera/image/width").text == "64" and sensor.find("camera/image/height").text == "64"
    x, y, z, roll, pitch, yaw = _pose(cam)
    forward = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), -math.sin(pitch)])
    env = SimEnv("push", render=False)
    cid = env.model.camera("cam").id
    assert np.allclose([x, y, z], env.model.cam_pos[cid], atol=1e-6)
    mj_forward = -env.data.cam_xmat[cid].reshape(3, 3)[:, 2]   # MuJoCo cameras look along -z
    assert np.allclose(forward, mj_forward, atol=2e-3)
    hfov = float(sensor.find("camera/horizontal_fov").text)
    assert math.isclose(math.degrees(hfov), env.camera_fovy(), abs_tol=0.01)   # square image


def test_bridge_yaml_maps_to_the_mujoco_bridge_topics():
    entries = yaml.safe_load((GZ / "ros_gz_bridge.yaml").read_text())
    by_ros = {e["ros_topic_name"]: e for e in entries}
    d = load_defaults()
    expected = {
        "/clock": ("rosgraph_msgs/msg/Clock", "GZ_TO_ROS"),
        d["joint_states_topic"]: ("sensor_msgs/msg/JointState", "GZ_TO_ROS"),
        d["image_topic"]: ("sensor_msgs/msg/Image", "GZ_TO_ROS"),
        d["camera_info_topic"]: ("sensor_msgs/msg/CameraInfo", "GZ_TO_ROS"),
        "/gz/arm_controller/joint_trajectory": ("trajectory_msgs/msg/JointTrajectory", "ROS_TO_GZ"),
    }
    for topic, (typ, direction) in expected.items():
        assert by_ros[topic]["ros_type_name"] == typ and by_ros[topic]["direction"] == direction, topic
    # the gz side of each entry is a topic the world actually uses
    text = WORLD.read_text()
    for e in entries:
        if e["gz_topic_name"] not in ("/clock", "/camera/camera_info"):
            assert f">{e['gz_topic_name']}<" in text, e["gz_topic_name"]


def test_launch_file_compiles_and_points_at_the_assets():
    launch = GZ / "gazebo_push.launch.py"
    py_compile.compile(str(launch), doraise=True)
    src = launch.read_text()
    assert "push_world.sdf" in src and "ros_gz_bridge.yaml" in src and "mbarl_sim.gz_relay" in src


def test_gz_relay_forwards_valid_and_rejects_bad_commands():
    relay = SimProcess("mbarl_sim.gz_relay")
    p = relay.probe
    try:
        out = []
        p.node.create_subscription(JointTrajectory, "/gz/arm_controller/joint_trajectory", out.append, 10)
        assert p.until(lambda: p.cmd.get_subscription_count() > 0 and p.latched["/sim/rejected_commands"]), \
            relay.output()
        p.spin(0.5)
        q = list(arm.ik([0.3, 0.0, 0.1]))
        p.cmd.publish(Float64MultiArray(data=q))
        assert p.until(lambda: out)
        assert list(out[0].joint_names) == list(arm.JOINT_NAMES)
        assert np.allclose(out[0].points[0].positions, q)
        assert out[0].points[0].time_from_start.nanosec == 50_000_000
        for bad in (q[:3], [math.nan, *q[1:]], [*q[:3], 9.0]):
            p.cmd.publish(Float64MultiArray(data=bad))
        assert p.until(lambda: p.latched["/sim/rejected_commands"][-1] == 3), relay.output()
        p.spin(0.3)
        assert len(out) == 1, "a rejected command was forwarded"
    finally:
        assert relay.stop() == 0
