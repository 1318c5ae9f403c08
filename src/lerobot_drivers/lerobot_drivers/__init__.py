"""Arm drivers, calibration, the simulated servo bus and cameras of the lerobot ROS 2 suite."""
