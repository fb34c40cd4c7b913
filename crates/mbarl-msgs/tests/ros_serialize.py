"""Serializes sample messages with real ROS 2 (rclpy, rmw_fastrtps) for tests/ros_interop.rs.

Prints one line per message: `<type name> <raw hex> <content hex>`, where raw is exactly
`rclpy.serialization.serialize_message(msg)` and content is the encapsulation header and the
message's own bytes from raw, with the CDR alignment padding set to zero. Fast CDR skips
padding bytes without writing them, so they hold whatever the buffer held (not reproducible);
their positions are computed here from the message's type information, independently of the
Rust code. The Rust test builds the same messages and compares its encoding with these bytes.

Run with the ROS 2 venv's interpreter: `$MBARL_ROS_PYTHON tests/ros_serialize.py`.
"""

import importlib
import sys

from builtin_interfaces.msg import Duration, Time
from rclpy.serialization import serialize_message
from rosgraph_msgs.msg import Clock
from rosidl_parser.definition import (
    AbstractGenericString,
    AbstractNestedType,
    AbstractSequence,
    AbstractWString,
    Array,
    BasicType,
    NamespacedType,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState, RegionOfInterest
from std_msgs.msg import (
    Bool,
    Empty,
    Float64,
    Float64MultiArray,
    Header,
    MultiArrayDimension,
    MultiArrayLayout,
    String,
)
from std_srvs.srv import Empty as EmptySrv
from std_srvs.srv import SetBool, Trigger
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Twist, TwistStamped, Vector3
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

# The same values are built in tests/ros_interop.rs: change both together.
HEADER = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id='camera_optical')


def cases():
    yield 'std_msgs/msg/String', String(data='hello, ROS 2 \u2713')
    yield 'std_msgs/msg/Header', HEADER
    yield 'std_msgs/msg/Bool', Bool(data=True)
    yield 'std_msgs/msg/Empty', Empty()
    yield 'std_msgs/msg/Float64', Float64(data=-2.5)
    yield 'std_msgs/msg/Float64MultiArray', Float64MultiArray(
        layout=MultiArrayLayout(
            dim=[
                MultiArrayDimension(label='rows', size=2, stride=6),
                MultiArrayDimension(label='cols', size=3, stride=3),
            ],
            data_offset=1,
        ),
        data=[1.5, -2.25, 3.0e10, 0.0, 1e-300, -7.0],
    )
    yield 'builtin_interfaces/msg/Time', Time(sec=-2, nanosec=300_000_000)
    yield 'builtin_interfaces/msg/Duration', Duration(sec=5, nanosec=1)
    yield 'rosgraph_msgs/msg/Clock', Clock(clock=Time(sec=42, nanosec=7))
    yield 'sensor_msgs/msg/Image', Image(
        header=HEADER, height=2, width=3, encoding='rgb8', is_bigendian=0, step=9,
        data=bytes(range(18)),
    )
    yield 'sensor_msgs/msg/CompressedImage', CompressedImage(
        header=HEADER, format='jpeg', data=b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9',
    )
    yield 'sensor_msgs/msg/JointState', JointState(
        header=HEADER, name=['shoulder', 'elbow', 'wrist'], position=[0.1, -0.2, 0.3],
        velocity=[], effort=[1.0],
    )
    yield 'sensor_msgs/msg/CameraInfo', CameraInfo(
        header=HEADER, height=480, width=640, distortion_model='plumb_bob',
        d=[0.1, -0.05, 0.0, 0.0, 0.001],
        k=[525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[525.0, 0.0, 319.5, 0.0, 0.0, 525.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0],
        binning_x=1, binning_y=2,
        roi=RegionOfInterest(x_offset=10, y_offset=20, height=100, width=200, do_rectify=True),
    )
    yield 'sensor_msgs/msg/RegionOfInterest', RegionOfInterest(
        x_offset=1, y_offset=2, height=3, width=4, do_rectify=True)
    yield 'trajectory_msgs/msg/JointTrajectory', JointTrajectory(
        header=HEADER, joint_names=['a', 'b'],
        points=[
            JointTrajectoryPoint(
                positions=[0.5, -0.5], velocities=[0.1, 0.2], accelerations=[], effort=[],
                time_from_start=Duration(sec=1, nanosec=500_000_000)),
            JointTrajectoryPoint(positions=[1.0, -1.0], time_from_start=Duration(sec=3)),
        ],
    )
    yield 'geometry_msgs/msg/PoseStamped', PoseStamped(
        header=HEADER,
        pose=Pose(position=Point(x=0.4, y=-0.1, z=0.35),
                  orientation=Quaternion(x=1.0, y=0.0, z=0.0, w=0.0)),
    )
    yield 'geometry_msgs/msg/TwistStamped', TwistStamped(
        header=HEADER,
        twist=Twist(linear=Vector3(x=0.1, y=-0.2, z=0.0), angular=Vector3(x=0.0, y=0.0, z=0.5)),
    )
    yield 'geometry_msgs/msg/Quaternion', Quaternion()
    yield 'std_srvs/srv/Trigger_Request', Trigger.Request()
    yield 'std_srvs/srv/Trigger_Response', Trigger.Response(success=True, message='done')
    yield 'std_srvs/srv/SetBool_Request', SetBool.Request(data=True)
    yield 'std_srvs/srv/SetBool_Response', SetBool.Response(success=False, message='refused')
    yield 'std_srvs/srv/Empty_Request', EmptySrv.Request()


# CDR sizes (= alignments) of the IDL basic types.
SIZES = {
    'boolean': 1, 'octet': 1, 'char': 1, 'int8': 1, 'uint8': 1,
    'int16': 2, 'uint16': 2, 'short': 2, 'unsigned short': 2, 'wchar': 2,
    'int32': 4, 'uint32': 4, 'long': 4, 'unsigned long': 4, 'float': 4,
    'int64': 8, 'uint64': 8, 'long long': 8, 'unsigned long long': 8, 'double': 8,
}


class Layout:
    """Walks a little-endian CDR body along the type, recording the alignment padding."""

    def __init__(self, body):
        self.body = body
        self.pos = 0
        self.padding = []

    def align(self, n):
        while self.pos % n:
            self.padding.append(self.pos)
            self.pos += 1

    def u32(self):
        self.align(4)
        value = int.from_bytes(self.body[self.pos:self.pos + 4], 'little')
        self.pos += 4
        return value

    def walk(self, t):
        if isinstance(t, BasicType):
            size = SIZES[t.typename]
            self.align(size)
            self.pos += size
        elif isinstance(t, AbstractWString):
            raise TypeError('wstring fields are not compared')
        elif isinstance(t, AbstractGenericString):
            length = self.u32()  # includes the terminating NUL
            self.pos += length
        elif isinstance(t, AbstractSequence):
            for _ in range(self.u32()):
                self.walk(t.value_type)
        elif isinstance(t, Array):
            for _ in range(t.size):
                self.walk(t.value_type)
        elif isinstance(t, NamespacedType):
            module = importlib.import_module('.'.join(t.namespaces))
            self.walk_message(getattr(module, t.name))
        elif isinstance(t, AbstractNestedType):
            raise TypeError(f'unsupported field type {t}')
        else:
            raise TypeError(f'unsupported field type {t}')

    def walk_message(self, cls):
        if not cls.SLOT_TYPES:
            self.pos += 1  # structure_needs_at_least_one_member
        for t in cls.SLOT_TYPES:
            self.walk(t)


def content(msg, raw):
    """The header and the message's bytes in `raw`, with the alignment padding set to zero.

    rmw_fastrtps sizes the buffer by an estimate: fixed-size messages are rounded up to a
    multiple of 4, and some others come out larger than the data (e.g. an empty float64[]
    still counts its alignment), so `raw` may go on after the message; those bytes are
    left out here.
    """
    assert raw[:4] == b'\x00\x01\x00\x00', raw[:4].hex()
    body = bytearray(raw[4:])
    layout = Layout(body)
    layout.walk_message(type(msg))
    assert layout.pos <= len(body), (layout.pos, len(body))
    for i in layout.padding:
        body[i] = 0
    return raw[:4] + bytes(body[:layout.pos])


def main():
    for name, msg in cases():
        raw = serialize_message(msg)
        print(name, raw.hex(), content(msg, raw).hex())
    return 0


if __name__ == '__main__':
    sys.exit(main())
