"""Errors of the recorder package; each names the bag, topic, time or file and the fix."""


class RecorderError(Exception):
    """Base of every error raised by lerobot_recorder."""


class BagError(RecorderError):
    """A bag cannot be opened or read (missing, truncated, corrupt, unsupported)."""


class MappingError(RecorderError):
    """The bag's topics or messages do not fit the robot profile's dataset mapping."""


class DatasetError(RecorderError):
    """A dataset cannot be written, appended to or read."""


class ValidationError(DatasetError):
    """A dataset folder does not follow the LeRobotDataset v3 format."""


class CancelledConversionError(RecorderError):
    """The conversion was abandoned because of an error elsewhere (or Ctrl-C): never the cause."""
