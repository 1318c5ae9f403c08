"""The fused pi0.5-style VLA, its training, and the policy runtime."""
