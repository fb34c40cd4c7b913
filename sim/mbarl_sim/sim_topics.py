"""What both sim bridges (bridge.py for the 4-joint arm, franka_bridge.py for the Panda) share:
the sim-only evaluation topics, the evaluation resets, the real-time loop, the lock-step re-send
of the latest state, and the refusal of a malformed command (logged, counted on a latched topic,
never applied)."""
from __future__ import annotations

import time

import rclpy

from std_msgs.msg import Bool, Float64, Float64MultiArray, UInt64

from . import messages as M
from . import qos


class SimTopics:
    """/sim/success, /sim/reverse_success, /sim/task_reward, /sim/reverse_reward,
    /sim/task_state, and the latched counters /sim/reset_count and /sim/rejected_commands."""

    def __init__(self, node):
        self.success = node.create_publisher(Bool, "/sim/success", qos.STATE)
        self.rsuccess = node.create_publisher(Bool, "/sim/reverse_success", qos.STATE)
        self.reward = node.create_publisher(Float64, "/sim/task_reward", qos.STATE)
        self.rreward = node.create_publisher(Float64, "/sim/reverse_reward", qos.STATE)
        self.state = node.create_publisher(Float64MultiArray, "/sim/task_state", qos.STATE)
        self.resets = node.create_publisher(UInt64, "/sim/reset_count", qos.LATCHED)
        self.rejected = node.create_publisher(UInt64, "/sim/rejected_commands", qos.LATCHED)
        self.resets.publish(UInt64(data=0))
        self.rejected.publish(UInt64(data=0))

    def messages(self, env, t, state_names) -> list:
        """(publisher, message) pairs of the ground truth at `env`'s current state."""
        return [
            (self.state, M.task_state(M.stamp_seconds(t), state_names, env.task_state())),
            (self.success, Bool(data=env.success("forward"))),
            (self.rsuccess, Bool(data=env.success("reverse"))),
            (self.reward, Float64(data=env.reward("forward"))),
            (self.rreward, Float64(data=env.reward("reverse"))),
        ]


class BridgeCommon:
    """Mixed into a bridge Node with `env`, `lock`, `cfg`, `lockstep`, `cached`,
    `last_publish_wall`, `rejected`, `reset_count`, `holding`, `last_cmd_time`, `_running`,
    `failure`, `sim` (a SimTopics), `_publish_state(render, sim_topics)` and `_hold_here()` (on
    a command timeout in real time: hold where the arm is now): the resets, the real-time loop
    and the lock-step re-send."""

    def _republish_if_idle(self) -> None:
        """Lock-step: re-send the latest state (same stamps) so a late subscriber is not stuck."""
        with self.lock:
            if time.monotonic() - self.last_publish_wall < self.cfg["republish_period"] * 0.9:
                return
            for pub, msg in self.cached:
                pub.publish(msg)
            self.last_publish_wall = time.monotonic()

    def _reject(self, source: str, why: str) -> None:
        self.rejected += 1
        self.get_logger().error(f"rejected {source} command, not applied: {why} "
                                f"({self.rejected} rejected so far)")
        self.sim.rejected.publish(UInt64(data=self.rejected))

    # --- resets ----------------------------------------------------------------------------------
    def _clear_commands(self) -> None:
        """A reset drops what the commander asked for before it (override to clear more)."""

    def _on_reset(self, direction: str, response):
        with self.lock:
            t_before = self.env.time
            self.env.reset(direction)
            self.reset_count += 1
            self._clear_commands()
            self.holding = True
            if self.lockstep:
                self.env.time += self.env.control_period   # a reset takes one period: fresh stamps
            self.last_cmd_time = self.env.time
            self.sim.resets.publish(UInt64(data=self.reset_count))
            if self.lockstep:
                self._publish_state(render=True)
        self.get_logger().info(f"evaluation reset #{self.reset_count} ({direction})")
        response.success = True
        # states stamped later than sim_time show the reset state
        response.message = f"reset_count={self.reset_count} direction={direction} sim_time={t_before:.9f}"
        return response

    # --- real-time mode --------------------------------------------------------------------------
    def _follow_commands(self) -> None:
        """Real time, before each physics tick: advance what the commander asked for (override)."""

    def _realtime_loop(self) -> None:
        try:
            self._realtime_steps()
        except Exception as exc:  # a dead sim must not look like a quiet robot: stop the node
            if not (self._running and rclpy.ok(context=self.context)):
                return   # shutting down: publishers may already be gone
            self.failure = exc
            self.get_logger().fatal(f"real-time sim loop failed: {exc!r}")
            rclpy.try_shutdown(context=self.context)
        finally:
            self.env.close()   # the renderer lives in this thread

    def _realtime_steps(self) -> None:
        env, c = self.env, self.cfg
        sub = max(1, round(1.0 / (c["joint_state_rate"] * env.timestep)))
        tick = sub * env.timestep
        cam_every = max(1, round(1.0 / (c["camera_rate"] * tick))) if c["camera_rate"] > 0 else 0
        ctl_every = max(1, round(env.control_period / tick))
        timeout = c["command_timeout"]
        self.get_logger().info(
            f"real-time: joint states every {tick * 1e3:.1f} ms, images every "
            f"{cam_every * tick * 1e3:.1f} ms, command timeout {timeout:.2f} s")
        if env.can_render:
            env.render()   # create the GL context in this thread before the clock starts
        k = 0
        next_t = time.monotonic()
        while self._running and rclpy.ok(context=self.context):
            with self.lock:
                self._follow_commands()
                if timeout > 0 and not self.holding and env.time - self.last_cmd_time > timeout:
                    # Watchdog: the commander went quiet. Like a real driver's controller, stop and
                    # hold where the arm is now instead of finishing a possibly stale motion.
                    self._hold_here()
                    self.holding = True
                    self.get_logger().warning(f"no command for {timeout:.2f} s: holding current position")
                env.physics_step(sub)
                k += 1
                self._publish_state(render=bool(cam_every) and k % cam_every == 0,
                                    sim_topics=k % ctl_every == 0)
            next_t += tick
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -10 * tick:
                next_t = time.monotonic()   # fell far behind (machine busy): do not try to catch up
