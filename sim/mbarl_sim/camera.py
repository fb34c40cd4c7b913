"""A fixed MuJoCo camera rendered headless (MUJOCO_GL=egl), shared by the sim environments."""
from __future__ import annotations

import mujoco
import numpy as np


class HeadlessCamera:
    def __init__(self, model, camera: str, width: int, height: int, enabled: bool = True):
        self.model, self.camera = model, camera
        self.width, self.height = int(width), int(height)
        self.enabled = bool(enabled)
        self.renderer = None   # created on the first render(): the GL context belongs to that thread

    def render(self, data) -> np.ndarray:
        """RGB frame (height x width x 3, uint8, top row first)."""
        if self.renderer is None:
            if not self.enabled:
                raise RuntimeError("the environment was created with render=False")
            vis = self.model.vis.global_
            vis.offwidth = max(vis.offwidth, self.width)
            vis.offheight = max(vis.offheight, self.height)
            self.renderer = mujoco.Renderer(self.model, self.height, self.width)
        self.renderer.update_scene(data, self.camera)
        return self.renderer.render()

    def fovy(self) -> float:
        return float(self.model.cam_fovy[self.model.camera(self.camera).id])

    def close(self) -> None:
        """Free the renderer; call from the thread that rendered."""
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
