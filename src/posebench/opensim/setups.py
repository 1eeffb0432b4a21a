"""OpenSim set-up files adapted to a marker set, and the paths the tools are given.

A marker set (`posebench.markersets`) that lacks some markers of its set-ups, or wants other
weights or scaling pairs, gets adapted copies of the IK and scaling set-ups. The adaptation
works on a parsed XML tree (`adapt_ik_tree`, `adapt_scaling_tree`); `adapt_ik_setup` and
`adapt_scaling_setup` read a set-up file and write the adapted copy. Reading the set-ups
needs no OpenSim.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from posebench.io.atomic import atomic_output
from posebench.markersets import MarkerSet

UNASSIGNED = "Unassigned"
"""What OpenSim reads as "no file" in a file property of a tool."""


def require_file(label: str, path: Path) -> None:
    """Raise FileNotFoundError naming ``label`` when ``path`` is not a file."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{label} {path} does not exist (resolved: {Path(path).resolve()})."
        )


def geometry_dir(setup_dir: Path) -> Path | None:
    """The `Geometry` folder (mesh files) of a folder of OpenSim files, None if it has none."""
    geometry = Path(setup_dir) / "Geometry"
    return geometry if geometry.is_dir() else None


def add_geometry_dir(geometry_dir: Path | None) -> None:
    """Add `geometry_dir` (resolved) to OpenSim's geometry search path; nothing when None."""
    if geometry_dir is None:
        return
    import opensim as osim  # here, so that reading and adapting set-ups needs no OpenSim

    osim.ModelVisualizer.addDirToGeometrySearchPaths(str(Path(geometry_dir).resolve()))


def portable(path: Path) -> str:
    """`path` relative to the working directory (the project) when it lies inside it, so
    that reports do not depend on where the project is."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def marker_pair(first: str, second: str) -> ET.Element:
    """A scaling measurement's `MarkerPair` element of two markers."""
    pair = ET.Element("MarkerPair")
    ET.SubElement(pair, "markers").text = f" {first} {second}"
    return pair


def _write_tree(tree: ET.ElementTree[ET.Element], output: Path) -> None:
    with atomic_output(output) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)


def adapt_ik_tree(marker_set: MarkerSet, tree: ET.ElementTree[ET.Element]) -> list[str]:
    """Adapt an IK set-up in place: keep only IK marker tasks of markers in `marker_set`,
    with its `ik_weights`, and switch coordinate tasks off if the set says so; return the
    names of the tasks left out or switched off, sorted."""
    dropped = []
    available = set(marker_set.opensim_marker_names)
    for objects in tree.iter("objects"):
        if not marker_set.ik_coordinate_tasks:
            for task in objects.findall("IKCoordinateTask"):
                apply = task.find("apply")
                if apply is None:
                    apply = ET.SubElement(task, "apply")
                if apply.text is None or apply.text.strip() != "false":
                    dropped.append(task.get("name", ""))
                apply.text = "false"
        for task in list(objects.findall("IKMarkerTask")):
            name = task.get("name", "")
            if name not in available:
                objects.remove(task)
                dropped.append(name)
            elif name in marker_set.ik_weights:
                weight = task.find("weight")
                if weight is None:
                    weight = ET.SubElement(task, "weight")
                weight.text = f"{marker_set.ik_weights[name]:g}"
    return sorted(dropped)


def adapt_ik_setup(marker_set: MarkerSet, setup: Path, output: Path) -> list[str]:
    """Write `setup` to `output` adapted to `marker_set` (`adapt_ik_tree`); return the names
    of the tasks left out or switched off."""
    tree = ET.parse(setup)
    dropped = adapt_ik_tree(marker_set, tree)
    _write_tree(tree, output)
    return dropped


def adapt_scaling_tree(
    marker_set: MarkerSet, tree: ET.ElementTree[ET.Element]
) -> dict[str, list[str]]:
    """Adapt a scaling set-up in place to `marker_set`: measurements named in its
    `scaling_pairs` get those pairs; other pairs using markers the set lacks are left out,
    and a measurement left without pairs is switched off (its bodies stay unscaled).
    Marker-placer tasks of absent markers are removed. Returns what was changed: the
    measurements `replaced` and `switched_off`, and the `dropped_pairs` (`name: a b`)."""
    available = set(marker_set.opensim_marker_names)
    changes: dict[str, list[str]] = {"replaced": [], "dropped_pairs": [], "switched_off": []}
    for measurement in tree.iter("Measurement"):
        name = measurement.get("name", "")
        objects = measurement.find("MarkerPairSet/objects")
        if objects is None:
            continue
        if name in marker_set.scaling_pairs:
            for pair in list(objects):
                objects.remove(pair)
            for first, second in marker_set.scaling_pairs[name]:
                objects.append(marker_pair(first, second))
            changes["replaced"].append(name)
            continue
        for pair in list(objects.findall("MarkerPair")):
            markers = (pair.findtext("markers") or "").split()
            if not set(markers) <= available:
                objects.remove(pair)
                changes["dropped_pairs"].append(f"{name}: {' '.join(markers)}")
        if not objects.findall("MarkerPair"):
            apply = measurement.find("apply")
            if apply is not None and apply.text and apply.text.strip() == "true":
                apply.text = "false"
                changes["switched_off"].append(name)
    for placer in tree.iter("MarkerPlacer"):
        for objects in placer.iter("objects"):
            for task in list(objects.findall("IKMarkerTask")):
                if task.get("name", "") not in available:
                    objects.remove(task)
    return changes


def adapt_scaling_setup(marker_set: MarkerSet, setup: Path, output: Path) -> dict[str, list[str]]:
    """Write `setup` to `output` adapted to `marker_set` (`adapt_scaling_tree`); return what
    was changed."""
    tree = ET.parse(setup)
    changes = adapt_scaling_tree(marker_set, tree)
    _write_tree(tree, output)
    return changes
