"""OpenCap's LSTM marker augmenter: sparse 3D keypoints in, 43 anatomical markers out.

OpenCap (opencap-core, `utilsAugmenter.augmentTRC`) turns joint centres and feet into the
`_study` markers that its LaiUhlrich2022 model is scaled and tracked with, with two recurrent
networks: a lower-body model (15 inputs -> 35 markers) and an upper-body model (7 inputs -> 8
markers). Version v0.3 of both ships, exported to ONNX with its normalisation files, inside
the `pose2sim` wheel (`MarkerAugmenter/LSTM/v0.3_{lower,upper}/{model.onnx,mean.npy,std.npy}`),
which `fetch_demo_data` extracts into `resources/pose2sim/`.

Each model sees, per frame, its input markers relative to the mid-hip (the midpoint of RHip
and LHip), divided by the participant's height, followed by the height (m) and the mass (kg);
the features are z-scored with the model's `mean.npy`/`std.npy`, the network runs over the
whole sequence, and its outputs are multiplied by the height and moved back by the mid-hip.
Positions are metres in OpenSim's frame (y up), as in the triangulated TRC files. OpenCap
then shifts every marker vertically so that the lowest one sits 1 cm above the floor, for
display; that shift is not applied here, so the augmented markers stay in the same frame as
the triangulated ones.

A recurrent network cannot skip a missing frame, and one NaN input would spread to every
later frame, so each run of consecutive frames with every input present is augmented on its
own and the other frames are NaN. The models' input and output widths are read from the
ONNX files and checked against the marker lists, so a different export fails clearly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.paths import FETCH_OUTPUTS, FETCH_RULES
from posebench.timeseries import true_runs

FloatArray = npt.NDArray[np.float64]


class AugmenterError(ValueError):
    """The augmenter's files are missing or unusable, or its inputs are."""


@dataclass(frozen=True)
class AugmenterPart:
    """One network of an augmenter: its folder, input markers and output markers (in the
    order of its features and outputs)."""

    folder: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


# opencap-core's `getOpenPoseMarkers_lowerExtremity2` and `getMarkers_upperExtremity_noPelvis2`
# (the marker orders of the v0.3 models), in Pose2Sim's marker names.
_LOWER = AugmenterPart(
    folder="v0.3_lower",
    inputs=(
        "Neck", "RShoulder", "LShoulder", "RHip", "LHip", "RKnee", "LKnee", "RAnkle",
        "LAnkle", "RHeel", "LHeel", "RSmallToe", "LSmallToe", "RBigToe", "LBigToe",
    ),
    outputs=(
        "r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study", "r_knee_study",
        "r_mknee_study", "r_ankle_study", "r_mankle_study", "r_toe_study", "r_5meta_study",
        "r_calc_study", "L_knee_study", "L_mknee_study", "L_ankle_study", "L_mankle_study",
        "L_toe_study", "L_calc_study", "L_5meta_study", "r_shoulder_study", "L_shoulder_study",
        "C7_study", "r_thigh1_study", "r_thigh2_study", "r_thigh3_study", "L_thigh1_study",
        "L_thigh2_study", "L_thigh3_study", "r_sh1_study", "r_sh2_study", "r_sh3_study",
        "L_sh1_study", "L_sh2_study", "L_sh3_study", "RHJC_study", "LHJC_study",
    ),
)  # fmt: skip
_UPPER = AugmenterPart(
    folder="v0.3_upper",
    inputs=("Neck", "RShoulder", "LShoulder", "RElbow", "LElbow", "RWrist", "LWrist"),
    outputs=(
        "r_lelbow_study", "r_melbow_study", "r_lwrist_study", "r_mwrist_study",
        "L_lelbow_study", "L_melbow_study", "L_lwrist_study", "L_mwrist_study",
    ),
)  # fmt: skip

#: Augmenters by name: their networks, run one after the other.
AUGMENTERS: dict[str, tuple[AugmenterPart, ...]] = {"lstm-v0.3": (_LOWER, _UPPER)}
#: The markers whose midpoint is the reference every position is taken relative to.
REFERENCE_MARKERS = ("RHip", "LHip")
#: Files of each network's folder.
PART_FILES = ("model.onnx", "mean.npy", "std.npy")
#: The command that fetches the networks again (with Pose2Sim's data).
_REFETCH = f"snakemake --cores 1 --forcerun {FETCH_RULES['pose2sim']} {FETCH_OUTPUTS['pose2sim']}"


def get_parts(name: str) -> tuple[AugmenterPart, ...]:
    try:
        return AUGMENTERS[name]
    except KeyError:
        raise AugmenterError(
            f"Unknown marker augmenter {name!r}; available: {', '.join(sorted(AUGMENTERS))}."
        ) from None


def input_markers(name: str) -> tuple[str, ...]:
    """Every marker the augmenter `name` reads (the reference markers included), in a fixed
    order, without repeats."""
    names: dict[str, None] = {}
    for part in get_parts(name):
        names.update(dict.fromkeys(part.inputs))
    names.update(dict.fromkeys(REFERENCE_MARKERS))
    return tuple(names)


def output_markers(name: str) -> tuple[str, ...]:
    """The markers the augmenter `name` writes, in output order."""
    return tuple(marker for part in get_parts(name) for marker in part.outputs)


def missing_inputs(name: str, available: Sequence[str]) -> list[str]:
    """The input markers of augmenter `name` that `available` lacks."""
    have = set(available)
    return [marker for marker in input_markers(name) if marker not in have]


@dataclass
class _LoadedPart:
    part: AugmenterPart
    session: Any  # onnxruntime.InferenceSession
    input_name: str
    mean: FloatArray
    std: FloatArray


class MarkerAugmenter:
    """The networks of one augmenter, loaded from `folder` (the `LSTM` folder holding
    `v0.3_lower/` and `v0.3_upper/`) with ONNX Runtime on `threads` CPU threads."""

    def __init__(self, name: str, folder: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.name = name
        self.folder = Path(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        self._parts = [self._load(part, options, ort) for part in get_parts(name)]

    def _load(self, part: AugmenterPart, options: Any, ort: Any) -> _LoadedPart:
        directory = self.folder / part.folder
        for file in PART_FILES:
            if not (directory / file).is_file():
                raise AugmenterError(
                    f"Marker augmenter {self.name!r}: {directory / file} not found. It comes "
                    f"with Pose2Sim's data: run `{_REFETCH}`."
                )
        try:
            session = ort.InferenceSession(
                str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise AugmenterError(
                f"Marker augmenter {self.name!r}: cannot load {directory / 'model.onnx'} "
                f"({error}); fetch it again with `{_REFETCH}`."
            ) from error
        n_in = 3 * len(part.inputs) + 2
        n_out = 3 * len(part.outputs)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        width_in = inputs[0].shape[-1] if len(inputs) == 1 else None
        width_out = outputs[0].shape[-1] if len(outputs) == 1 else None
        if width_in != n_in or width_out != n_out or len(inputs[0].shape) != 3:
            raise AugmenterError(
                f"{directory / 'model.onnx'} takes {[i.shape for i in inputs]} and returns "
                f"{[o.shape for o in outputs]}; the {self.name} {part.folder} network takes "
                f"(batch, frames, {n_in}) ({len(part.inputs)} markers x 3, height, mass) and "
                f"returns (batch, frames, {n_out}) ({len(part.outputs)} markers x 3)."
            )
        mean = _load_vector(directory / "mean.npy", n_in)
        std = _load_vector(directory / "std.npy", n_in)
        if not np.all(std > 0):
            raise AugmenterError(f"{directory / 'std.npy'} has non-positive entries.")
        return _LoadedPart(part, session, inputs[0].name, mean, std)

    def augment(
        self,
        marker_names: Sequence[str],
        positions_m: FloatArray,
        *,
        height_m: float,
        mass_kg: float,
    ) -> Augmentation:
        """The augmented markers of a (T, M, 3) marker trajectory (metres, y up; NaN where
        missing) whose columns are `marker_names`."""
        _check_participant(height_m, mass_kg)
        positions = np.asarray(positions_m, dtype=np.float64)
        if positions.ndim != 3 or positions.shape[1:] != (len(marker_names), 3):
            raise AugmenterError(
                f"positions have shape {positions.shape}; expected (frames, "
                f"{len(marker_names)}, 3) for the markers {list(marker_names)}."
            )
        absent = missing_inputs(self.name, marker_names)
        if absent:
            raise AugmenterError(
                f"The marker augmenter {self.name!r} needs the markers {absent}, which the "
                f"triangulated markers lack (they have {list(marker_names)})."
            )
        column = {name: i for i, name in enumerate(marker_names)}
        used = [column[name] for name in input_markers(self.name)]
        valid = np.asarray(np.isfinite(positions[:, used]).all(axis=(1, 2)), dtype=bool)
        reference = positions[:, [column[m] for m in REFERENCE_MARKERS]].mean(axis=1)
        names = output_markers(self.name)
        out = np.full((positions.shape[0], len(names), 3), np.nan)
        segments = true_runs(valid)
        started = time.perf_counter()
        for start, stop in segments:
            offset = 0
            for loaded in self._parts:
                count = len(loaded.part.outputs)
                markers = positions[start:stop, [column[m] for m in loaded.part.inputs]]
                out[start:stop, offset : offset + count] = self._run_part(
                    loaded, markers, reference[start:stop], height_m, mass_kg
                )
                offset += count
        seconds = time.perf_counter() - started
        return Augmentation(names, out, tuple(segments), int(valid.sum()), seconds)

    @staticmethod
    def _run_part(
        loaded: _LoadedPart,
        markers: FloatArray,
        reference: FloatArray,
        height_m: float,
        mass_kg: float,
    ) -> FloatArray:
        """(T, outputs, 3) positions from (T, inputs, 3) positions of one run of frames."""
        frames = markers.shape[0]
        relative = (markers - reference[:, None, :]) / height_m
        features = np.concatenate(
            [
                relative.reshape(frames, -1),
                np.full((frames, 1), height_m),
                np.full((frames, 1), mass_kg),
            ],
            axis=1,
        )
        features = (features - loaded.mean) / loaded.std
        (result,) = loaded.session.run(None, {loaded.input_name: features[None].astype(np.float32)})
        predicted = np.asarray(result, dtype=np.float64)[0].reshape(frames, -1, 3)
        return predicted * height_m + reference[:, None, :]


@dataclass(frozen=True)
class Augmentation:
    """What `MarkerAugmenter.augment` returns: the output markers' names and (T, 43, 3)
    positions (NaN outside `segments`), the [start, stop) frame runs augmented, the number
    of frames augmented and the networks' run time."""

    marker_names: tuple[str, ...]
    positions_m: FloatArray
    segments: tuple[tuple[int, int], ...]
    frames_augmented: int
    seconds: float


def _load_vector(path: Path, width: int) -> FloatArray:
    try:
        vector = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64).reshape(-1)
    except (OSError, ValueError) as error:
        raise AugmenterError(f"Cannot read {path}: {error}") from error
    if vector.shape != (width,) or not np.all(np.isfinite(vector)):
        raise AugmenterError(
            f"{path} holds {vector.shape[0]} values; the network has {width} input features."
        )
    return vector


def _check_participant(height_m: float, mass_kg: float) -> None:
    if not (math.isfinite(height_m) and 0.5 <= height_m <= 2.5):
        raise AugmenterError(
            f"Participant height {height_m} m is not plausible (0.5-2.5 m); the augmenter "
            "normalises every position by it."
        )
    if not (math.isfinite(mass_kg) and 10.0 <= mass_kg <= 300.0):
        raise AugmenterError(
            f"Participant mass {mass_kg} kg is not plausible (10-300 kg); the augmenter "
            "uses it as an input."
        )
