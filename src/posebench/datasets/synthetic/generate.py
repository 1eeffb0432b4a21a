"""Entry points of the synthetic subject generator: load the model, compute the subject in
memory (:mod:`posebench.datasets.synthetic.core`) and write it
(:mod:`posebench.datasets.synthetic.writer`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from posebench.datasets.synthetic.core import GeneratorSettings, compute_subject
from posebench.datasets.synthetic.model import load_model
from posebench.datasets.synthetic.writer import SyntheticSubject, write_subject
from posebench.io.atomic import write_json
from posebench.opensim.setups import geometry_dir as setup_geometry_dir

#: Files of Pose2Sim's OpenSim set-up folder that :func:`generate_dataset` uses.
SETUP_MODEL = "Model_Pose2Sim_simple.osim"
SETUP_MARKERS = "Markers_LSTM.xml"
#: Joint centres and feet (Pose2Sim's Halpe26 markers) put on the model besides, for the
#: sparse oracle (marker sets `halpe26` and `halpe26-lstm`).
SETUP_SPARSE_MARKERS = "Markers_Halpe26.xml"
#: The settings a dataset may give: the fields of :class:`GeneratorSettings`, in order.
_DATASET_SETTINGS = tuple(field.name for field in fields(GeneratorSettings))


def generate_subject(
    root: Path,
    *,
    model: Path,
    marker_set: Path,
    geometry_dir: Path | None,
    extra_marker_sets: Sequence[Path] = (),
    subject: str = "subject2",
    mass_kg: float = 70.0,
    height_m: float = 1.75,
    fps: float = 60.0,
    mocap_rate_hz: float = 100.0,
    image_size: tuple[int, int] = (720, 1280),
    camera_angles_deg: Sequence[float] = (-70, -45, 0, 45, 70),
    camera_distance_m: float = 4.0,
    seed: int = 0,
    activities: Sequence[str] = ("static", "squats", "STS", "DJ", "walking"),
    placement: str = "backWall",
    placement_convention: str = "opencapbench",
) -> SyntheticSubject:
    """Write a synthetic subject in OpenCap's LabValidation layout under ``root/<subject>``.

    Args:
        root: dataset folder (the parent of the subject folder).
        model: OpenSim model (.osim) that generates the motions (e.g. Pose2Sim's
            ``Model_Pose2Sim_simple.osim``).
        marker_set: marker set (.xml) put on the model (e.g. ``Markers_LSTM.xml``); it must
            have the OpenCap ``_study`` foot markers.
        extra_marker_sets: more marker sets (.xml) whose markers are added (e.g.
            ``Markers_Halpe26.xml``); a marker already on the model must be the same.
        geometry_dir: the model's mesh folder, added to OpenSim's geometry search path; None
            to leave the search path alone.
        subject: subject folder name and ``subjectID``.
        mass_kg, height_m: written to ``sessionMetadata.yaml`` (the model is not rescaled).
        fps: video frame rate, Hz.
        mocap_rate_hz: rate of the ground-truth .mot and the mocap .trc, Hz.
        image_size: (width, height) of the videos, pixels (portrait by default).
        camera_angles_deg: one camera per angle; see
            :func:`posebench.datasets.synthetic.rig.synthetic_cameras`.
        camera_distance_m: radius of the camera circle, metres.
        seed: seed of the motions' small random variations and of the camera layout.
        activities: activities to generate, among
            :data:`posebench.datasets.synthetic.motions.ACTIVITY_SESSIONS`; trial names are
            the activity + ``"1"``.
        placement, placement_convention: the checkerboard's placement written to
            ``sessionMetadata.yaml`` and the convention
            (:data:`posebench.datasets.synthetic.rig.BOARD_EULER_ANGLES`) that says how its
            frame lies in OpenSim's; read the subject with the same ``placement_convention``.

    Returns:
        A :class:`SyntheticSubject` describing what was written.

    Raises:
        ValueError: on unknown or repeated activities or implausible arguments.
        CoordinateRangeError: when a motion leaves a coordinate's range in the model.
        CameraLayoutError: when a marker would project outside an image.
    """
    settings = GeneratorSettings(
        subject=subject,
        mass_kg=mass_kg,
        height_m=height_m,
        fps=fps,
        mocap_rate_hz=mocap_rate_hz,
        image_size=image_size,
        camera_angles_deg=camera_angles_deg,
        camera_distance_m=camera_distance_m,
        seed=seed,
        activities=activities,
        placement=placement,
        placement_convention=placement_convention,
    )
    extra = [Path(path) for path in extra_marker_sets]
    generating = load_model(Path(model), Path(marker_set), geometry_dir, extra)
    # Compute and check every trial before writing anything.
    data = compute_subject(
        settings, generating.body, generating.marker_positions, generating.marker_names
    )
    return write_subject(
        root,
        data,
        model_file=Path(model),
        marker_set_file=Path(marker_set),
        extra_marker_set_files=extra,
        write_model=generating.write,
    )


def generate_dataset(
    output: Path, *, setup_dir: Path, settings: Mapping[str, Any]
) -> SyntheticSubject:
    """Workflow entry point: generate a subject under ``output``'s folder, then write
    ``output`` (JSON: the settings and what was written), the rule's completion marker.

    Args:
        output: the marker file, e.g. ``resources/synthetic/<dataset>/generated.json``; the
            subject goes to ``output.parent / <subject>``.
        setup_dir: Pose2Sim's ``OpenSim_Setup`` folder (``Model_Pose2Sim_simple.osim``,
            ``Markers_LSTM.xml``, ``Geometry/``).
        settings: keyword arguments of :func:`generate_subject` (see ``_DATASET_SETTINGS``).
    """
    unknown = sorted(set(settings) - set(_DATASET_SETTINGS))
    if unknown:
        raise ValueError(
            f"unknown synthetic dataset settings {unknown}; allowed: {list(_DATASET_SETTINGS)}"
        )
    setup_dir = Path(setup_dir)
    output = Path(output)
    # GeneratorSettings turns the lists of a YAML configuration into tuples.
    result = generate_subject(
        output.parent,
        model=setup_dir / SETUP_MODEL,
        marker_set=setup_dir / SETUP_MARKERS,
        extra_marker_sets=[setup_dir / SETUP_SPARSE_MARKERS],
        geometry_dir=setup_geometry_dir(setup_dir),
        **settings,
    )
    write_json(output, _dataset_summary(settings, result))
    return result


def _dataset_summary(settings: Mapping[str, Any], result: SyntheticSubject) -> dict[str, Any]:
    """What :func:`generate_dataset` writes to its marker file."""
    return {
        "settings": {key: settings[key] for key in sorted(settings)},
        "subject": result.subject,
        "subject_dir": result.subject_dir.name,
        "cameras": list(result.cameras),
        "trials": [
            {
                "name": t.name,
                "activity": t.activity,
                "session": t.session,
                "duration_s": t.duration_s,
                "n_video_frames": t.n_video_frames,
                "n_mocap_frames": t.n_mocap_frames,
            }
            for t in result.trials
        ],
        "fps": result.fps,
        "mocap_rate_hz": result.mocap_rate_hz,
        "image_size": list(result.image_size),
    }
