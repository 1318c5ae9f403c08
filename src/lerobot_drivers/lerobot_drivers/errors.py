"""Errors of the drivers package; each message names what is wrong and how to fix it."""


class DriverError(Exception):
    """Base of every error raised by lerobot_drivers."""


class BusError(DriverError):
    """The servo bus could not be opened, or a transaction failed after its retries."""


class MotorMismatchError(DriverError):
    """A servo on the bus is missing, or is not the model the profile names."""


class CalibrationError(DriverError):
    """A calibration file is missing, malformed, or does not match the arm."""


class ProfileError(DriverError):
    """A robot profile is malformed or inconsistent."""


class PortLostError(BusError):
    """The serial port itself failed (an adapter unplugged): reopen it before any retry."""
