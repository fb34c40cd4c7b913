"""What the scripted experts' ROS commanders share: spinning until a condition holds, the
time of the newest joint state, and an evaluation reset through /sim."""
from __future__ import annotations

import time

import rclpy

from .messages import stamp_seconds


def spin_until(node, pred, timeout: float) -> bool:
    """Spins `node` until `pred()` holds (True) or `timeout` seconds pass (False)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        rclpy.spin_once(node, timeout_sec=0.01)
    return True


def stamp_of(msg) -> float:
    """A stamped message's time (s), -1 for none."""
    return stamp_seconds(msg.header.stamp) if msg is not None else -1.0


def wait_for_bridge(node, reset_client, publisher, timeout: float, topic: str) -> None:
    """Exits with a clear message unless the bridge's reset service and a subscriber of the
    commander's topic show up within `timeout`."""
    if not reset_client.wait_for_service(timeout_sec=timeout):
        raise SystemExit("no /sim reset service: is the bridge running (same ROS_DOMAIN_ID)?")
    if not spin_until(node, lambda: publisher.get_subscription_count() > 0, timeout):
        raise SystemExit(f"nobody subscribes to {topic}")


def reset(node, reset_client, timeout: float) -> float:
    """Calls the reset service; the sim time (s) after which states show the reset scene."""
    from std_srvs.srv import Trigger
    fut = reset_client.call_async(Trigger.Request())
    rclpy.spin_until_future_complete(node, fut, timeout_sec=timeout)
    if fut.result() is None:
        raise SystemExit("reset service did not answer")
    return float(fut.result().message.split("sim_time=")[1])


def success_streak(latest: dict, direction: str, streak: int) -> int:
    """The run of consecutive steps with the direction's /sim success (forward: `success`,
    reverse: `rsuccess` in `latest`), after this step."""
    done = latest["success"] if direction == "forward" else latest["rsuccess"]
    return streak + 1 if done else 0
