#!/usr/bin/env bash
# Install the OpenMMLab stack (MMPose 1.3.2, MMDetection 3.3.0, MMPretrain 1.2.0 for the
# ConvNeXt detector, MMEngine 0.10.7, mmcv-lite 2.1.0) into the project's virtual environment,
# next to the torch it already has. `make setup-mmpose` runs it; it is idempotent (pip skips
# what is installed). Usage: scripts/setup_mmpose.sh [PYTHON]   (default .venv/bin/python)
#
# Why not `pip install mmpose mmdet`: their declared dependencies pull chumpy (an sdist whose
# setup.py imports pip and fails to build) and opencv-python (a second owner of cv2/ next to
# opencv-contrib-python), and PyPI has no compiled mmcv wheel for this Python. So the three
# OpenMMLab wheels go in without dependencies, followed by the dependencies they really use.
# mmcv-lite has no compiled ops (mmcv._ext); posebench.backends.openmmlab stands in for
# the two that HRNet and the R-CNN detectors call (nms, roi_align) with torchvision's. A
# compiled mmcv 2.1.0, if you build one, is used instead automatically (README).
set -euo pipefail
PY=${1:-.venv/bin/python}
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)

# mmengine imports pkg_resources at run time (removed from setuptools 81). Cython and numpy
# are needed to build xtcocotools below.
"${PIP[@]}" "setuptools>=77,<81" "cython>=3"
"${PIP[@]}" --no-deps \
  mmengine==0.10.7 mmcv-lite==2.1.0 mmdet==3.3.0 mmpose==1.3.2 mmpretrain==1.2.0
"${PIP[@]}" addict yapf termcolor rich pyyaml packaging pillow matplotlib scipy \
  json-tricks munkres pycocotools shapely six terminaltables tqdm \
  einops mat4py modelindex importlib-metadata
# xtcocotools' cp311 wheel is built against numpy 1 and fails to import under numpy 2
# ("numpy.dtype size changed"): build it from its source against the installed numpy.
if ! "$PY" -c "import xtcocotools.coco" 2>/dev/null; then
  "${PIP[@]}" --force-reinstall --no-deps --no-build-isolation --no-binary xtcocotools \
    xtcocotools==1.14.3
fi
# pip reports that mmengine, mmcv-lite and mmpose "require" opencv-python and chumpy, which
# are not installed: expected, and harmless (see the top of this file).
echo "setup_mmpose: pip's notes about missing opencv-python and chumpy are expected (see $0)."
"$PY" -W ignore::UserWarning -m posebench.backends.openmmlab --check
