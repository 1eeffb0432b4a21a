"""posebench: benchmark 2D pose-estimation models for biomechanics.

Multi-camera video goes in; per-camera 2D keypoints, triangulated 3D markers (TRC),
OpenSim-scaled models and inverse-kinematics joint angles (MOT) come out.
"""

__version__ = "0.1.0"
