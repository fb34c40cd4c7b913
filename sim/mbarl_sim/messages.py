"""Builders for the standard ROS messages the bridge publishes (all stamped with sim time)."""
from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension


def stamp(t: float) -> Time:
    ns = int(round(t * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def stamp_seconds(s: Time) -> float:
    return s.sec + s.nanosec * 1e-9


def clock(t: Time) -> Clock:
    return Clock(clock=t)


def joint_state(t: Time, names, q, v, effort) -> JointState:
    msg = JointState()
    msg.header.stamp = t
    msg.name = list(names)
    msg.position = [float(x) for x in q]
    msg.velocity = [float(x) for x in v]
    msg.effort = [float(x) for x in effort]
    return msg


def image(t: Time, frame_id: str, rgb: np.ndarray) -> Image:
    msg = Image()
    msg.header.stamp = t
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = 3 * msg.width
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def compressed(t: Time, frame_id: str, jpeg: bytes) -> CompressedImage:
    msg = CompressedImage()
    msg.header.stamp = t
    msg.header.frame_id = frame_id
    # image_transport's compressed plugin convention: "<raw encoding>; jpeg compressed <codec enc>"
    msg.format = "rgb8; jpeg compressed bgr8"
    msg.data = jpeg
    return msg


def camera_info(t: Time, frame_id: str, width: int, height: int, fovy_deg: float) -> CameraInfo:
    """Pinhole intrinsics of MuJoCo's camera: fovy is vertical, pixels are square, no distortion."""
    f = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    msg = CameraInfo()
    msg.header.stamp = t
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def task_state(t: float, names, values) -> Float64MultiArray:
    """/sim/task_state: data[0] is the sim time (s) of the step, data[1:] the task state;
    layout.dim[0].label lists the names ("sim_time,ee_x,...")."""
    msg = Float64MultiArray()
    labels = ",".join(("sim_time",) + tuple(names))
    n = 1 + len(values)
    msg.layout.dim = [MultiArrayDimension(label=labels, size=n, stride=n)]
    msg.data = [float(t)] + [float(x) for x in values]
    return msg
