"""Errors of the policy package; each message names the bad value and what to do."""


class PolicyError(Exception):
    """Base of every error raised by lerobot_policy."""


class ActionChunkError(PolicyError):
    """An action chunk (array or message) is inconsistent."""
