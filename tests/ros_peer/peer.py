#!/usr/bin/env python3
"""A real ROS 2 Jazzy node (rclpy + Fast DDS from PyPI) that the Rust interop tests talk to.

Every command prints JSON lines on stdout ({"event": ...}) that the Rust side reads, and exits
non-zero on failure or timeout. ROS_DOMAIN_ID selects the domain, as for any ROS 2 node.

  peer.py sub TOPIC TYPE COUNT [transient_local]   print COUNT received messages (digest of each)
  peer.py pub TOPIC TYPE COUNT            publish COUNT test messages once a subscriber matched and
                                          a line "go" arrived on stdin
  peer.py echo TOPIC_IN TOPIC_OUT TYPE    re-publish every message (latency benchmark)
  peer.py sink TOPIC TYPE COUNT           print the receive rate of COUNT messages (throughput benchmark)
  peer.py clock SEC SECONDS               publish /clock from SEC for SECONDS of wall time
  peer.py trigger-server SERVICE          answer std_srvs/Trigger requests
  peer.py trigger-call SERVICE            call std_srvs/Trigger once
  peer.py graph NODE                      print what the ROS graph shows of NODE
  peer.py params NODE NAME VALUE          list, get, then set one parameter of NODE
"""
import hashlib
import json
import sys
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy
from std_msgs.msg import String
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger
from geometry_msgs.msg import PoseStamped, TwistStamped

TYPES = {"std_msgs/String": String, "sensor_msgs/JointState": JointState, "sensor_msgs/Image": Image,
         "geometry_msgs/PoseStamped": PoseStamped, "geometry_msgs/TwistStamped": TwistStamped}
TIMEOUT = 30.0


def emit(**event):
    print(json.dumps(event), flush=True)


def test_image(i, width, height):
    """The same deterministic pattern as tests/interop.rs `test_image`."""
    data = bytes(((x * 7 + i * 13) & 0xFF) for x in range(width * height * 3))
    return width, height, data


def make_message(type_name, i):
    if type_name == "std_msgs/String":
        return String(data=f"hello from rclpy {i}")
    if type_name == "sensor_msgs/JointState":
        m = JointState()
        m.header.stamp.sec = 100 + i
        m.header.stamp.nanosec = 500
        m.header.frame_id = "base_link"
        m.name = [f"joint{j + 1}" for j in range(4)]
        m.position = [0.1 * i + j for j in range(4)]
        m.velocity = [-0.5 * j for j in range(4)]
        m.effort = []
        return m
    if type_name.startswith("sensor_msgs/Image"):
        width, height = (640, 480) if type_name.endswith("640x480") else (64, 64)
        m = Image()
        m.header.stamp.sec = i
        m.header.frame_id = "camera_optical_frame"
        m.width, m.height, data = test_image(i, width, height)
        m.encoding = "rgb8"
        m.step = width * 3
        m.data = data
        return m
    raise SystemExit(f"unknown type {type_name}")


def digest(msg):
    if isinstance(msg, String):
        return {"data": msg.data}
    if isinstance(msg, JointState):
        return {"stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec], "frame_id": msg.header.frame_id,
                "name": list(msg.name), "position": list(msg.position), "velocity": list(msg.velocity),
                "effort": list(msg.effort)}
    if isinstance(msg, Image):
        return {"stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec], "frame_id": msg.header.frame_id,
                "width": msg.width, "height": msg.height, "encoding": msg.encoding, "step": msg.step,
                "is_bigendian": msg.is_bigendian, "sha256": hashlib.sha256(bytes(msg.data)).hexdigest()}
    if isinstance(msg, PoseStamped):
        p, q = msg.pose.position, msg.pose.orientation
        return {"stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec], "frame_id": msg.header.frame_id,
                "position": [p.x, p.y, p.z], "orientation": [q.x, q.y, q.z, q.w]}
    if isinstance(msg, TwistStamped):
        v, w = msg.twist.linear, msg.twist.angular
        return {"stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec], "frame_id": msg.header.frame_id,
                "linear": [v.x, v.y, v.z], "angular": [w.x, w.y, w.z]}
    raise TypeError(type(msg))


def msg_class(type_name):
    return TYPES["sensor_msgs/Image" if type_name.startswith("sensor_msgs/Image") else type_name]


def reliable(depth=10):
    return QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=depth)


def spin_until(node, done, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            emit(event="timeout")
            sys.exit(3)
        rclpy.spin_once(node, timeout_sec=0.05)


def cmd_sub(node, topic, type_name, count, durability="volatile"):
    from rclpy.qos import DurabilityPolicy
    got = []
    qos = reliable(50)
    if durability == "transient_local":  # like `ros2 topic echo --qos-durability transient_local`
        qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(msg_class(type_name), topic, lambda m: (got.append(1), emit(event="msg", **digest(m))),
                             qos)
    emit(event="ready")
    spin_until(node, lambda: len(got) >= int(count))


def cmd_pub(node, topic, type_name, count):
    pub = node.create_publisher(msg_class(type_name), topic, reliable(50))
    spin_until(node, lambda: pub.get_subscription_count() > 0)
    # Both ends must have matched before volatile data is sent: the reader says so on stdin.
    emit(event="matched")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    for i in range(int(count)):
        msg = make_message(type_name, i)
        pub.publish(msg)
        emit(event="sent", **digest(msg))
        rclpy.spin_once(node, timeout_sec=0.02)
    # Stay until the reader has everything (reliable delivery of large messages takes a moment).
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def cmd_echo(node, topic_in, topic_out, type_name):
    pub = node.create_publisher(msg_class(type_name), topic_out, reliable(10))
    node.create_subscription(msg_class(type_name), topic_in, pub.publish, reliable(10))
    emit(event="ready")
    rclpy.spin(node)


def cmd_sink(node, topic, type_name, count):
    """Receive COUNT messages (or stop 5 s after the last) and print the receive rate."""
    stamps = []
    keep_all = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_ALL)
    node.create_subscription(msg_class(type_name), topic, lambda m: stamps.append(time.monotonic()), keep_all)
    emit(event="ready")
    deadline = time.monotonic() + 35
    while len(stamps) < int(count):
        rclpy.spin_once(node, timeout_sec=0.05)
        now = time.monotonic()
        if (stamps and now - stamps[-1] > 5) or (not stamps and now > deadline):
            break
    seconds = stamps[-1] - stamps[0] if stamps else 0.0
    emit(event="rate", count=max(len(stamps) - 1, 0), received=len(stamps), seconds=seconds)


def cmd_clock(node, sec, seconds):
    """Publish rosgraph_msgs/Clock at 50 Hz, starting at SEC, for SECONDS of wall time."""
    from rosgraph_msgs.msg import Clock
    pub = node.create_publisher(Clock, "/clock", reliable(1))
    start = time.monotonic()
    t_ns = int(sec) * 1_000_000_000
    while time.monotonic() - start < float(seconds):
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(t_ns, 1_000_000_000)
        pub.publish(msg)
        t_ns += 20_000_000
        rclpy.spin_once(node, timeout_sec=0.02)


def cmd_trigger_server(node, service):
    calls = []

    def handle(request, response):
        calls.append(1)
        response.success = True
        response.message = f"rclpy handled call {len(calls)}"
        emit(event="call", n=len(calls))
        return response

    node.create_service(Trigger, service, handle)
    emit(event="ready")
    spin_until(node, lambda: len(calls) >= 1)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def cmd_trigger_call(node, service):
    client = node.create_client(Trigger, service)
    if not client.wait_for_service(timeout_sec=TIMEOUT):
        emit(event="timeout")
        sys.exit(3)
    future = client.call_async(Trigger.Request())
    spin_until(node, future.done)
    r = future.result()
    emit(event="response", success=r.success, message=r.message)


def cmd_graph(node, target):
    ns, _, name = target.rpartition("/")
    ns = ns or "/"

    def seen():
        return (name, ns) in node.get_node_names_and_namespaces()

    spin_until(node, seen)
    # Topics and services of the node appear through ros_discovery_info shortly after.
    deadline = time.monotonic() + 10
    pubs = subs = srvs = []
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        pubs = node.get_publisher_names_and_types_by_node(name, ns)
        subs = node.get_subscriber_names_and_types_by_node(name, ns)
        srvs = node.get_service_names_and_types_by_node(name, ns)
        if pubs and subs and srvs:
            break
    emit(event="graph", nodes=[f"{n_ns.rstrip('/')}/{n}" for n, n_ns in node.get_node_names_and_namespaces()],
         publishers=dict(pubs), subscribers=dict(subs), services=dict(srvs),
         topics=dict(node.get_topic_names_and_types()))


def cmd_params(node, target, pname, pvalue):
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(node, target)
    if not client.wait_for_services(timeout_sec=TIMEOUT):
        emit(event="timeout")
        sys.exit(3)

    def call(future):
        spin_until(node, future.done)
        return future.result()

    listed = call(client.list_parameters())
    emit(event="list", names=sorted(listed.result.names))
    got = call(client.get_parameters([pname]))
    emit(event="get", values=[Parameter.from_parameter_msg(rclpy_param(pname, v)).value for v in got.values])
    value = json.loads(pvalue)
    result = call(client.set_parameters([Parameter(pname, value=value)]))
    emit(event="set", results=[{"successful": r.successful, "reason": r.reason} for r in result.results])
    bad = call(client.set_parameters([Parameter(pname, value="not a number")]))
    emit(event="set_wrong_type", results=[{"successful": r.successful, "reason": r.reason} for r in bad.results])
    got = call(client.get_parameters([pname]))
    emit(event="get_after", values=[Parameter.from_parameter_msg(rclpy_param(pname, v)).value for v in got.values])


def rclpy_param(name, value):
    from rcl_interfaces.msg import Parameter as ParameterMsg
    return ParameterMsg(name=name, value=value)


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    rclpy.init()
    node = Node(f"mbarl_test_peer_{argv[1].replace('-', '_')}")
    try:
        {
            "sub": cmd_sub, "pub": cmd_pub, "echo": cmd_echo, "sink": cmd_sink, "clock": cmd_clock, "trigger-server": cmd_trigger_server,
            "trigger-call": cmd_trigger_call, "graph": cmd_graph, "params": cmd_params,
        }[argv[1]](node, *argv[2:])
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main(sys.argv)
