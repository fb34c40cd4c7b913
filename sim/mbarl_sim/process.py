"""How the sim's ROS processes (the bridge, the Gazebo relay) run and stop: spin until SIGINT,
say the shutdown on stderr (so a slow exit shows where it stopped; CI once waited 20 s for
one), catch errors while closing, and leave with os._exit, since the interpreter's own teardown
(DDS's and the renderer's finalisers, a thread still in a C call) is what could keep a stopped
process alive."""
from __future__ import annotations

import os
import sys

import rclpy
from rclpy.executors import ExternalShutdownException


def spin_then_exit(node, name: str, close=lambda: None, failed=lambda: False) -> None:
    """Spins `node` until stopped, runs `close()` and destroys it, shuts rclpy down and exits
    the process: 1 when `failed()`, else 0."""
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGINT's handler may shut the context down while spin builds its wait set (an
        # RCLError "context is not valid"): that is the stop asked for, not a failure
        if rclpy.ok():
            raise
    finally:
        print(f"[{name}] shutting down", file=sys.stderr, flush=True)
        try:
            close()
            node.destroy_node()
        except BaseException as exc:   # e.g. a context rclpy's signal handler shut down first
            print(f"[{name}] while shutting down: {exc!r}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        print(f"[{name}] shut down", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1 if failed() else 0)
