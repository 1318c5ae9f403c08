"""The robot in Rerun (LeRobot's own viewer), for machines without rviz2: the model from its
URDF posed by the measured joints, the cameras, commanded against measured joints, and the
policy's predicted chunks as the tool's path. The same log serves a live graph and a dataset.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from lerobot_drivers.description import RobotDescription, description_for
from lerobot_drivers.profile import RobotProfile
from lerobot_drivers.sim.objects import Shape
from lerobot_recorder.reader import DatasetReader

ROBOT = "robot"


class RobotLog:
    """Everything about one robot, logged at the time set by `at`."""

    def __init__(self, recording: rr.RecordingStream, profile: RobotProfile) -> None:
        self.recording, self.profile = recording, profile
        self.description: RobotDescription | None = description_for(profile) if profile.description else None
        self.joints: dict[str, rr.urdf.UrdfJoint] = {}
        if self.description is not None:
            self.joints = self._log_model(self.description)
        recording.send_blueprint(layout(profile))

    def _log_model(self, description: RobotDescription) -> dict[str, rr.urdf.UrdfJoint]:
        """The centred URDF's meshes and fixed transforms, once (static)."""
        with tempfile.TemporaryDirectory() as folder:
            urdf = Path(folder) / "robot.urdf"  # Rerun's loader takes plain paths, rviz file:// URIs
            urdf.write_text(description.urdf.replace('filename="file://', 'filename="'))
            tree = rr.urdf.UrdfTree.from_file_path(urdf, entity_path_prefix=ROBOT)
            tree.log_urdf_to_recording(self.recording)
        return {joint.name: joint for joint in tree.joints() if joint.name in self.profile.joint_names}

    def at(self, seconds: float) -> None:
        """Time into a recorded episode."""
        self.recording.set_time("time", duration=seconds)

    def at_stamp(self, stamp_ns: int) -> None:
        """A live message's header stamp."""
        self.recording.set_time("time", timestamp=stamp_ns * 1e-9)

    def measured(self, names: Sequence[str], positions: Sequence[float]) -> None:
        """Joint states: plotted, and posing the model."""
        for name, value in zip(names, positions, strict=True):
            self.recording.log(f"joints/{name}/measured", rr.Scalars(float(value)))
            if (joint := self.joints.get(name)) is not None:
                self.recording.log(f"{ROBOT}/joints/{name}", joint.compute_transform(float(value), clamp=False))

    def commanded(self, names: Sequence[str], positions: Sequence[float]) -> None:
        for name, value in zip(names, positions, strict=True):
            self.recording.log(f"joints/{name}/commanded", rr.Scalars(float(value)))

    def image(self, camera: str, rgb: np.ndarray) -> None:
        self.recording.log(f"cameras/{camera}", rr.Image(rgb).compress(jpeg_quality=90))  # 10x smaller

    def jpeg(self, camera: str, data: bytes) -> None:
        """Compressed frames go to the viewer as they are: it decodes them."""
        self.recording.log(f"cameras/{camera}", rr.EncodedImage(contents=data, media_type="image/jpeg"))

    def chunk(self, names: Sequence[str], values: np.ndarray) -> None:
        """A predicted chunk: the tool's path through its steps, in the URDF's root frame."""
        if self.description is not None:
            path = self.description.tool_path(names, values)
            strip = rr.LineStrips3D([path], radii=0.002, colors=[(30, 200, 80)])
            self.recording.log(f"{ROBOT}/chunk_path", strip, rr.CoordinateFrame(self.description.root))

    def objects(self, shapes: Sequence[Shape], frame: str) -> None:
        """A scene's objects (the physics scene's markers) beside the model, posed in `frame`."""
        for shape in shapes:
            self.recording.log(f"{ROBOT}/scene/{shape.name}", drawing(shape), rr.CoordinateFrame(frame))


def drawing(shape: Shape) -> rr.Boxes3D | rr.Ellipsoids3D | rr.Cylinders3D:
    half = np.asarray(shape.size) / 2
    centers, quaternions = [shape.position], [rr.Quaternion(xyzw=shape.quaternion)]
    colors, solid = [[round(255 * c) for c in shape.rgba]], rr.components.FillMode.Solid
    if shape.kind == "box":
        return rr.Boxes3D(half_sizes=[half], centers=centers, quaternions=quaternions, colors=colors, fill_mode=solid)
    if shape.kind == "sphere":
        return rr.Ellipsoids3D(
            half_sizes=[half], centers=centers, quaternions=quaternions, colors=colors, fill_mode=solid
        )
    return rr.Cylinders3D(
        lengths=[shape.size[2]], radii=[half[0]], centers=centers, quaternions=quaternions, colors=colors,
        fill_mode=solid,
    )  # fmt: skip


def layout(profile: RobotProfile) -> rrb.Blueprint:
    """The robot and its cameras on the left; per joint, measured against commanded."""
    cameras = [rrb.Spatial2DView(origin=f"cameras/{camera.name}", name=camera.name) for camera in profile.cameras]
    joints = [rrb.TimeSeriesView(origin=f"joints/{name}", name=name) for name in profile.joint_names]
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Vertical(rrb.Spatial3DView(origin="/", contents=f"{ROBOT}/**", name="robot"), rrb.Horizontal(*cameras)),
            rrb.Grid(*joints),
            column_shares=[3, 2],
        ),
        collapse_panels=True,
    )


def log_episode(reader: DatasetReader, episode: int, log: RobotLog, batch: int = 64) -> int:
    """One episode of a LeRobotDataset on its own timeline; returns its frame count."""
    data = reader.episode_data(episode)
    names = reader.features["observation.state"]["names"]
    frames = len(data["timestamp"])
    for start in range(0, frames, batch):  # decoded a batch at a time: memory stays flat
        indices = list(range(start, min(start + batch, frames)))
        videos = {key: reader.video_frames(episode, key, indices) for key in reader.video_keys}
        for k, index in enumerate(indices):
            log.at(float(data["timestamp"][index]))
            log.measured(names, data["observation.state"][index])
            if "action" in data:
                log.commanded(names, data["action"][index])
            for key, images in videos.items():
                log.image(key.removeprefix("observation.images."), images[k])
    return frames
