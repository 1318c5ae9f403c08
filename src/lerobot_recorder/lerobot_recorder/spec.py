"""What a conversion makes of a bag: the `dataset` and `cameras` sections of the robot profile."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from lerobot_drivers.profile import CameraConfig, RobotProfile, resolve_topic
from lerobot_recorder.align import AlignPolicy
from lerobot_recorder.errors import MappingError

KNOWN = {
    "state_topic",
    "action_topic",
    "task_topic",
    "episode_events_topic",
    "stamps",
    "align",
    "extra",
    "fps",
}
ALIGN_FIELDS = {"policy", "max_age_s", "tolerance_s", "fill_periods"}


@dataclass(frozen=True)
class ExtraFeature:
    feature: str  # e.g. observation.base_velocity
    topic: str
    names: tuple[str, ...] = ()  # defaults to the profile's joints or the extractor's fixed names


@dataclass(frozen=True)
class DatasetSpec:
    robot_type: str
    fps: int
    joint_names: tuple[str, ...]
    state_topic: str
    action_topic: str | None  # None: the action is the next state
    task_topic: str | None
    events_topic: str | None
    stamps: Literal["header", "receive"]
    align: dict[str, AlignPolicy]  # "state", "action", "images", and each extra feature
    cameras: tuple[CameraConfig, ...]
    extra: tuple[ExtraFeature, ...] = ()

    @classmethod
    def from_profile(cls, profile: RobotProfile, namespace: str = "/") -> DatasetSpec:
        """`namespace`: the one the robot's nodes ran in; the profile's relative topics resolve in it."""
        raw: dict[str, Any] = dict(profile.dataset)
        where = f"{profile.source}: dataset"
        if unknown := set(raw) - KNOWN:
            raise MappingError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(KNOWN)}")
        stamps = raw.get("stamps", "header")
        if stamps not in ("header", "receive"):
            raise MappingError(f"{where}: stamps must be 'header' or 'receive', got {stamps!r}")
        policies = {
            "state": AlignPolicy("hold", 0.1),
            "action": AlignPolicy("hold", 0.25),
            "images": AlignPolicy("nearest"),
        }
        extra = []
        for entry in raw.get("extra") or ():
            if not isinstance(entry, dict) or not {"feature", "topic"} <= set(entry):
                raise MappingError(f"{where}: each extra needs feature and topic, got {entry!r}")
            if unknown := set(entry) - {"feature", "topic", "names"}:
                raise MappingError(f"{where}: extra {entry['feature']!r} has unknown field(s) {sorted(unknown)}")
            topic = resolve_topic(str(entry["topic"]), namespace)
            extra.append(ExtraFeature(str(entry["feature"]), topic, tuple(entry.get("names", ()))))
        streams = {*policies, *(e.feature for e in extra)}
        for key, value in (raw.get("align") or {}).items():
            if key not in streams:
                raise MappingError(f"{where}: align.{key} names no stream; align: {sorted(streams)}")
            if not isinstance(value, dict) or (unknown := set(value) - ALIGN_FIELDS):
                raise MappingError(f"{where}: align.{key} takes {sorted(ALIGN_FIELDS)}, got {value!r}")
            policies[key] = AlignPolicy(**value)
        for feature in extra:
            policies.setdefault(feature.feature, policies["state"])
        action_topic = raw.get("action_topic", profile.topics.joint_commands)

        def resolved(name: str | None) -> str | None:
            return None if name is None else resolve_topic(name, namespace)

        return cls(
            robot_type=profile.robot_type,
            fps=int(raw.get("fps", profile.fps)),
            joint_names=tuple(profile.joint_names),
            state_topic=resolve_topic(raw.get("state_topic", profile.topics.joint_states), namespace),
            action_topic=resolved(action_topic),
            task_topic=resolved(raw.get("task_topic")),
            events_topic=resolved(raw.get("episode_events_topic")),
            stamps=stamps,
            align=policies,
            cameras=tuple(replace(c, topic=resolve_topic(c.topic, namespace)) for c in profile.cameras),
            extra=tuple(extra),
        )
