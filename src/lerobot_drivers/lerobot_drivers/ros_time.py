"""Conversions between ROS time messages and plain numbers, without rclpy.

Cores keep time as integer nanoseconds (stamps) or float seconds (durations, REP-103);
only the message boundary sees builtin_interfaces types.
"""

from __future__ import annotations

import math

from builtin_interfaces.msg import Duration, Time

NS_PER_S = 1_000_000_000


def time_to_ns(stamp: Time) -> int:
    return stamp.sec * NS_PER_S + stamp.nanosec


def ns_to_time(ns: int) -> Time:
    if ns < 0:
        raise ValueError(f"a ROS Time cannot be negative, got {ns} ns")
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def duration_to_s(duration: Duration) -> float:
    return duration.sec + duration.nanosec / NS_PER_S


def s_to_duration(seconds: float) -> Duration:
    if not math.isfinite(seconds):
        raise ValueError(f"a ROS Duration must be finite, got {seconds}")
    sec, nanosec = divmod(round(seconds * NS_PER_S), NS_PER_S)
    return Duration(sec=sec, nanosec=nanosec)
