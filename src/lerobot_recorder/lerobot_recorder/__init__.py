"""ROS 2 bags to LeRobotDataset v3, and live episode recording."""
