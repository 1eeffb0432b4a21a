"""Key columns: the names that identify a recording, a video and a result row in the tables
the workflow writes (sample sheets, summaries, scores, leaderboards), in one order.

This module imports nothing, so every table reader and writer can share it.
"""

RECORDING_KEYS: tuple[str, ...] = ("dataset", "subject", "session", "trial")
"""One recording: a trial of a subject's session in a dataset."""

VIDEO_KEYS: tuple[str, ...] = (*RECORDING_KEYS, "camera")
"""One camera's video of a recording: a row of a sample sheet."""

RESULT_KEYS: tuple[str, ...] = ("dataset", "setup", "subject", "session", "trial")
"""The leading key columns of every per-trial result table (the camera setup next to the
dataset), in their sort order; the model and the table's own keys follow."""

SCORE_KEYS: tuple[str, ...] = (*RESULT_KEYS, "activity", "model", "scaling")
"""The key columns of a trial's scores: the result keys, the trial's activity, the pose model
and how the OpenSim model was scaled (`video` or `mocap`)."""

FRAME_ROWS = "frame slots from container timestamps"
"""How rows of keypoint and detection files map to frames (`posebench.video`); a parameter
of the pose2d and detect rules, so that files written under another mapping (decode order,
before slots) are made again. Here rather than in `posebench.video`, so that the workflow's
start-up does not import OpenCV."""
