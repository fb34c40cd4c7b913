"""QoS profiles used by the bridge.

rclpy's default subscription (`create_subscription(T, topic, cb, 10)`) is RELIABLE + VOLATILE.
A BEST_EFFORT publisher (e.g. `qos_profile_sensor_data`, what many camera drivers use) does NOT
match a RELIABLE subscriber, so such a subscriber would silently receive nothing. A RELIABLE
publisher matches both RELIABLE and BEST_EFFORT subscribers, so every stream here is published
RELIABLE with a short KEEP_LAST queue: a slow subscriber gets the newest frames, not a backlog.
"""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# images (raw + compressed) and camera_info
SENSOR = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
# /joint_states, /clock and per-step /sim/... values
STATE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                   reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
# counters (/sim/reset_count, /sim/rejected_commands): latched, a late subscriber gets the value
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# incoming commands: reliable so that no lock-step command is lost (matches reliable publishers,
# which is what ros2_control's command interfaces and mbarl's arbiter use)
COMMANDS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
