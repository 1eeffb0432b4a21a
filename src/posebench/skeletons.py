"""Skeletons: the keypoint names of each pose model family, in model output order.

This module imports nothing, so marker sets, backends, weights checks and the workflow's
planner can all share one definition of each skeleton without importing each other.
"""

# MediaPipe BlazePose's 33 landmarks, in model output order.
BLAZEPOSE_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

# SynthPose "Anatomical" keypoints, in model output order: the 17 COCO keypoints, then 35
# anatomical landmarks.
ANATOMICAL_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "sternum", "rshoulder", "lshoulder", "r_lelbow", "l_lelbow", "r_melbow", "l_melbow",
    "r_lwrist", "l_lwrist", "r_mwrist", "l_mwrist", "r_ASIS", "l_ASIS", "r_PSIS", "l_PSIS",
    "r_knee", "l_knee", "r_mknee", "l_mknee", "r_ankle", "l_ankle", "r_mankle", "l_mankle",
    "r_5meta", "l_5meta", "r_toe", "l_toe", "r_big_toe", "l_big_toe", "l_calc", "r_calc",
    "C7", "L2", "T11", "T6",
)  # fmt: skip

# COCO-WholeBody's 133 keypoints, in model output order (MMPose's `coco_wholebody` dataset
# meta, whose ids Pose2Sim's COCO_133 skeleton uses): the 17 COCO keypoints, 6 foot
# keypoints, 68 face landmarks (face-0..face-67), then 21 keypoints per hand, left first
# (the hand root, then four per finger, from its base to its tip).
_HAND_POINTS: tuple[str, ...] = (
    "hand_root",
    *(
        f"{finger}{joint}"
        for finger in ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
        for joint in range(1, 5)
    ),
)
COCO_WHOLEBODY_KEYPOINTS: tuple[str, ...] = (
    *COCO_KEYPOINTS,
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
    *(f"face-{i}" for i in range(68)),
    *(f"left_{point}" for point in _HAND_POINTS),
    *(f"right_{point}" for point in _HAND_POINTS),
)  # fmt: skip

# Halpe26's 26 keypoints, in model output order (MMPose's `halpe26` dataset meta, Pose2Sim's
# HALPE_26 skeleton): COCO's 17, then the head top, neck, mid-hip, and three per foot.
HALPE26_KEYPOINTS: tuple[str, ...] = (
    *COCO_KEYPOINTS,
    "head", "neck", "hip",
    "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
    "left_heel", "right_heel",
)  # fmt: skip
