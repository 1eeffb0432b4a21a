"""A synthetic subject in the layout of OpenCap's LabValidation dataset, with a known truth.

An OpenSim model follows smooth analytic motions (:mod:`.motions`: sums of sinusoids,
Gaussian bumps and smoothsteps of time, deterministic given a seed). Its markers are computed
in ground with the OpenSim API (:mod:`.model`) and projected into five virtual cameras
(:mod:`.rig`), all in memory (:mod:`.core`); everything is then written exactly where and how
the LabValidation dataset has it (:mod:`.writer`), so the whole workflow (with the ``oracle``
pose backend, which reads the projections) can be scored against the generating coordinates.

Frames and units:

* OpenSim's ground frame: x forward (the direction the subject faces), y up, z to the
  subject's right; metres.
* The calibration's world frame is the frame of a checkerboard with the subject's
  ``placement`` (``backWall`` by default): ``X_board = R.T @ X_opensim``, with ``R`` built
  in :mod:`.rig` from the Euler angles each convention documents for that placement
  (``BOARD_EULER_ANGLES``, through SciPy), independently of the dataset reader's rule
  tables, so reading the subject back tests the reader. The pickles hold world(board)->camera
  rotations and translations in millimetres.
* Camera ``k`` sits on a circle of radius ``camera_distance_m`` about the vertical axis
  through the origin (where every trial is centred), at ``camera_angles_deg[k]``: the
  subject's facing direction (+x) rotated by that angle about +y (positive angles towards
  the subject's left, -z), 1.0-1.3 m high, looking at (0, 0.9, 0).
* Video frame ``j`` is at ``j / fps`` s and mocap sample ``k`` at ``k / mocap_rate_hz`` s;
  both start at 0 and end at the trial's duration.

Layout written under ``root/<subject>/`` (one trial shown)::

    sessionMetadata.yaml
    VideoData/Session0/Cam0/cameraIntrinsicsExtrinsics.pickle
    VideoData/Session0/Cam0/squats1/squats1_syncdWithMocap.avi
    VideoData/Session0/Cam0/squats1/squats1_oracle_keypoints.npz
    OpenSimData/Mocap/IK/squats1.mot
    OpenSimData/Mocap/Model/<subject>_scaled.osim
    MarkerData/Mocap/squats1.trc

The generator does not configure OpenSim's logger: call
:func:`posebench.opensim.logging.configure_opensim_logging` first, or OpenSim writes
``opensim.log`` into the working directory.
"""

from posebench.datasets.synthetic.generate import generate_dataset, generate_subject
from posebench.datasets.synthetic.writer import SyntheticSubject

__all__ = ["SyntheticSubject", "generate_dataset", "generate_subject"]
