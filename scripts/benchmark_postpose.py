"""Whole-process wall of our post-pose demo run against Pose2Sim 0.10.49 on the same 2D keypoints.

Ours: `snakemake --cores N --forcerun triangulate` in the repository (triangulate, scale,
inverse_kinematics, summarize, aggregate), one process tree, timed from start to exit. The
per-job walls come from Snakemake's own records (`.snakemake/metadata`: a job's start, and
the time its last output was written); what lies before the first job is Snakemake's
start-up, parsing and DAG, what lies after the last one its closing work.

Pose2Sim: its Demo_SinglePerson project (from the pose2sim wheel) with our BlazePose
keypoints written as OpenPose JSON files in `pose/camNN_json/`, pose estimation skipped, and
one Python process running calibration, personAssociation, triangulation, filtering and
kinematics (OpenSim scaling and IK); per-step walls are taken inside that process.

The two runs alternate, after one untimed warm-up run each. Pose2Sim lives in its own
virtual environment in the cache folder (created on first use; never in the repository).
The 2D keypoints are those of the default run's pose2d stage under `results/pose2d/`;
when they are missing the whole workflow is run once first (untimed).

    .venv/bin/python scripts/benchmark_postpose.py [--repeats 3] [--cache DIR] [--imports 5]

`measure(...)` returns the same numbers as a dict, for other scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
POSE2SIM_VERSION = "0.10.49"
# What Pose2Sim's kinematics needs besides its own requirements: the OpenSim Python API.
POSE2SIM_REQUIREMENTS = (f"pose2sim=={POSE2SIM_VERSION}", "opensim==4.6")
DEFAULT_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "posebench"
    / f"pose2sim-{POSE2SIM_VERSION}"
)
DATASET = "pose2sim-demo"
MODEL = "mediapipe-blazepose"
POST_POSE_RULES = ("triangulate", "scale", "inverse_kinematics", "summarize", "aggregate")
POSE2SIM_STEPS = ("calibration", "personAssociation", "triangulation", "filtering", "kinematics")
# Changes to the demo's Config.toml. Pose2Sim's BLAZEPOSE skeleton numbers its keypoints by
# MediaPipe's landmark index, the order of our archives, so the keypoints are written as they
# are. The demo has no Neck (Pose2Sim's default tracked keypoint): the nose is tracked.
# Figures are saved but not shown; no marker augmentation (our default run has none); the
# simple model, the one our BlazePose marker set uses.
CONFIG_OVERRIDES: dict[str, dict[str, Any]] = {
    "project": {"frame_range": "all", "multi_person": False},
    "pose": {"pose_model": "BLAZEPOSE"},
    "personAssociation": {"single_person": {"tracked_keypoint": "Nose"}},
    "filtering": {"display_figures": False},
    "kinematics": {"use_augmentation": False, "use_simple_model": True},
}
# The Pose2Sim runs: project folder and further Config.toml changes. "pose2sim" keeps the
# demo's other settings (filtering plots saved, C3D files written); "pose2sim_lean" writes
# neither, closer to what our run writes (one plot per trial, no C3D).
VARIANTS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "pose2sim": ("Demo_SinglePerson", {}),
    "pose2sim_lean": (
        "Demo_SinglePerson_lean",
        {
            "triangulation": {"make_c3d": False},
            "filtering": {"save_filt_plots": False, "make_c3d": False},
        },
    ),
}
LABELS = {"pose2sim": "demo settings", "pose2sim_lean": "no plots, no C3D"}
# Run inside Pose2Sim's environment, in the project folder: argv[1] is the JSON file for the
# walls, argv[2:] the steps.
RUNNER = """\
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from Pose2Sim import Pose2Sim
walls = {"import Pose2Sim": time.perf_counter() - start}
for step in sys.argv[2:]:
    start = time.perf_counter()
    getattr(Pose2Sim, step)()
    walls[step] = time.perf_counter() - start
Path(sys.argv[1]).write_text(json.dumps(walls))
"""
# Patches Config.toml with rtoml (a Pose2Sim requirement): argv[1] the file, argv[2] the JSON.
PATCH_CONFIG = """\
import json, sys, rtoml
def merge(into, new):
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
config = rtoml.load(open(sys.argv[1]))
merge(config, json.loads(sys.argv[2]))
open(sys.argv[1], "w").write(rtoml.dumps(config))
"""
# What every Snakemake `script:` job imports before the script itself (its preamble).
SNAKEMAKE_PREAMBLE = (
    "import pickle; from snakemake.logging import logger; from snakemake.iocontainers import "
    "Snakemake; import snakemake.io"
)
HEAVY = ("pandas", "scipy", "matplotlib", "opensim", "cv2", "sqlalchemy", "sqlmodel")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _our_env(repo: Path) -> dict[str, str]:
    """The workflow's environment, importing `posebench` from `repo/src` (the package may be
    installed in editable mode from another checkout)."""
    paths = [str(repo / "src"), os.environ.get("PYTHONPATH", "")]
    return _env(PYTHONPATH=os.pathsep.join(p for p in paths if p))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: Sequence[str], log: Path, **kwargs: Any) -> float:
    """Run `command` with its output in `log`; the CPU seconds (user + system) of its whole
    process tree (children that were waited for)."""
    cpu = _children_cpu_s()
    with log.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}); {log}:\n{tail}")
    return _children_cpu_s() - cpu


def our_command(cores: int) -> list[str]:
    snakemake = Path(sys.executable).parent / "snakemake"
    return [str(snakemake), "--cores", str(cores), "--forcerun", "triangulate"]


def pose2sim_python(cache: Path) -> Path:
    return cache / "venv" / "bin" / "python"


def setup_pose2sim(cache: Path, say: Callable[[str], None] = print) -> Path:
    """Pose2Sim's virtual environment in `cache/venv`, created when missing; its Python."""
    python = pose2sim_python(cache)
    stamp = cache / "venv" / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == " ".join(POSE2SIM_REQUIREMENTS):
        return python
    cache.mkdir(parents=True, exist_ok=True)
    say(f"creating {cache / 'venv'}: pip install {' '.join(POSE2SIM_REQUIREMENTS)}")
    base = getattr(sys, "_base_executable", sys.executable)
    log = cache / "install.log"
    _run([base, "-m", "venv", "--clear", str(cache / "venv")], log)
    _run([str(python), "-m", "pip", "install", "--quiet", *POSE2SIM_REQUIREMENTS], log)
    stamp.write_text(" ".join(POSE2SIM_REQUIREMENTS))
    return python


def keypoint_files(repo: Path, cores: int, say: Callable[[str], None] = print) -> list[Path]:
    """The default run's per-camera keypoint archives of its one trial (the workflow is run
    once when they are missing)."""
    pattern = f"results/pose2d/{DATASET}/*/*/*/{MODEL}/*.npz"
    files = sorted(repo.glob(pattern))
    if not files:
        say(f"no {pattern} in {repo}: running the whole workflow once (untimed)")
        command = [str(Path(sys.executable).parent / "snakemake"), "--cores", str(cores)]
        (repo / "logs").mkdir(exist_ok=True)
        _run(command, repo / "logs" / "benchmark_postpose_demo.log", cwd=repo, env=_our_env(repo))
        files = sorted(repo.glob(pattern))
    trials = {f.parent for f in files}
    if len(trials) != 1:
        raise RuntimeError(f"expected the keypoints of one trial, found {sorted(trials)}")
    return files


def prepare_pose2sim_project(
    repo: Path,
    cache: Path,
    keypoints: Sequence[Path],
    name: str = "Demo_SinglePerson",
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """A fresh copy `cache/name` of Pose2Sim's Demo_SinglePerson (its Config.toml, patched
    with CONFIG_OVERRIDES and `overrides`, and its Qualisys calibration) with `keypoints` as
    OpenPose JSON files, one per camera and frame."""
    sys.path.insert(0, str(repo / "src"))
    from posebench.io.keypoints import load_keypoints

    python = pose2sim_python(cache)
    find = (
        "import importlib.util as u; print(u.find_spec('Pose2Sim').submodule_search_locations[0])"
    )
    found = subprocess.run([python, "-c", find], capture_output=True, text=True, check=True)
    demo = Path(found.stdout.strip()) / "Demo_SinglePerson"
    project = cache / name
    shutil.rmtree(project, ignore_errors=True)
    (project / "calibration").mkdir(parents=True)
    shutil.copy2(demo / "Config.toml", project / "Config.toml")
    shutil.copy2(demo / "calibration" / "Calib.qca.txt", project / "calibration")
    fps = set()
    for path in keypoints:
        data = load_keypoints(path)
        fps.add(data.fps)
        folder = project / "pose" / f"{path.stem}_json"
        folder.mkdir(parents=True)
        for frame in range(data.n_frames):
            xy = data.keypoints_px[frame]
            score = data.scores[frame]
            seen = (score > 0) & (xy == xy).all(axis=1)  # a score and no NaN
            people = []
            if seen.any():  # OpenPose writes 0, 0, 0 for a keypoint it did not find
                flat = [
                    round(float(v), 3) if ok else 0.0
                    for point, s, ok in zip(xy, score, seen, strict=True)
                    for v in (point[0], point[1], s)
                ]
                people.append({"person_id": [-1], "pose_keypoints_2d": flat})
            document = {"version": 1.3, "people": people}
            (folder / f"{path.stem}_{frame:06d}.json").write_text(json.dumps(document))
    if len(fps) != 1:
        raise RuntimeError(f"cameras differ in frame rate: {sorted(fps)}")
    patch: dict[str, dict[str, Any]] = json.loads(json.dumps(CONFIG_OVERRIDES))
    patch["project"]["frame_rate"] = round(fps.pop())
    for section, values in (overrides or {}).items():
        patch.setdefault(section, {}).update(values)
    config = project / "Config.toml"
    subprocess.run([python, "-c", PATCH_CONFIG, str(config), json.dumps(patch)], check=True)
    (cache / "run_pose2sim.py").write_text(RUNNER)
    return project


def _clean_pose2sim_outputs(project: Path) -> None:
    for name in ("pose-associated", "pose-3d", "kinematics"):
        shutil.rmtree(project / name, ignore_errors=True)
    for path in [*(project / "calibration").glob("*.toml"), project / "logs.txt"]:
        path.unlink(missing_ok=True)


def pose2sim_command(cache: Path, project: Path) -> list[str]:
    walls = cache / f"{project.name}.walls.json"
    runner = cache / "run_pose2sim.py"
    return [str(pose2sim_python(cache)), str(runner), str(walls), *POSE2SIM_STEPS]


def run_pose2sim(cache: Path, project: Path) -> dict[str, float]:
    """One timed Pose2Sim process in `project`: {"wall": whole process, step: wall inside}."""
    _clean_pose2sim_outputs(project)
    walls = cache / f"{project.name}.walls.json"
    walls.unlink(missing_ok=True)
    env = _env(QT_QPA_PLATFORM="offscreen")  # figures are drawn (and saved) without a display
    start = time.perf_counter()
    log = cache / f"{project.name}.log"
    cpu = _run(pose2sim_command(cache, project), log, cwd=project, env=env)
    wall = time.perf_counter() - start
    return {"wall": wall, "cpu": cpu, **json.loads(walls.read_text())}


def _job_spans(repo: Path, since: float) -> list[tuple[str, float, float]]:
    """(rule, start, end) of each post-pose job that started after `since` (epoch seconds),
    from Snakemake's metadata records (end: when the job's last output was written)."""
    jobs: dict[tuple[str, float], float] = {}
    for record in (repo / ".snakemake" / "metadata").iterdir():
        try:
            data = json.loads(record.read_text())
        except (ValueError, OSError):
            continue
        rule, start, end = data.get("rule"), data.get("starttime"), data.get("endtime")
        if rule in POST_POSE_RULES and start is not None and end is not None and start >= since:
            key = (rule, end)
            jobs[key] = min(start, jobs.get(key, start))
    return sorted(((rule, start, end) for (rule, end), start in jobs.items()), key=lambda j: j[1])


def run_ours(repo: Path, cores: int, logs: Path) -> dict[str, Any]:
    """One timed post-pose run: whole wall, start-up (to the first job), per-rule job walls
    (summed over a rule's jobs) and the closing time after the last job."""
    since = time.time()
    start = time.perf_counter()
    cpu = _run(our_command(cores), logs / "ours.log", cwd=repo, env=_our_env(repo))
    wall = time.perf_counter() - start
    spans = _job_spans(repo, since)
    missing = set(POST_POSE_RULES) - {rule for rule, _, _ in spans}
    if missing:
        raise RuntimeError(f"no metadata record of {sorted(missing)} in {repo / '.snakemake'}")
    jobs = {rule: 0.0 for rule in POST_POSE_RULES}
    for rule, job_start, job_end in spans:
        jobs[rule] += job_end - job_start
    first, last = spans[0][1] - since, spans[-1][2] - since
    return {
        "wall": wall,
        "cpu": cpu,
        "startup": first,
        "jobs": jobs,
        "n_jobs": len(spans),
        "between_jobs": (last - first) - sum(jobs.values()),
        "closing": wall - last,
    }


def _import_wall(python: str, code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _adapter_imports(repo: Path, rule: str) -> str:
    lines = (repo / "workflow" / "scripts" / f"{rule}.py").read_text().splitlines()
    return "; ".join(line for line in lines if re.match(r"(from|import) posebench", line))


def _loaded_heavy(python: str, code: str, env: dict[str, str]) -> list[str]:
    """The HEAVY packages that `python -c code` loads."""
    probe = f"{code}; import sys; print(' '.join(sys.modules))"
    found = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True)
    loaded = set(found.stdout.split())
    return [m for m in HEAVY if m in loaded]


def measure_imports(repo: Path, cache: Path, runs: int) -> dict[str, Any]:
    """Median wall (s) of fresh interpreters importing: nothing; Snakemake's job preamble;
    the preamble plus each post-pose adapter's `posebench` imports; single heavy packages;
    the Snakemake CLI; and, in Pose2Sim's environment, its five step modules. Each with the
    heavy packages it loads. The cases take turns, `runs` rounds, so that a change in
    machine load hits them alike."""
    ours = (sys.executable, _our_env(repo))
    codes = {"python -c pass": "pass", "snakemake job preamble": SNAKEMAKE_PREAMBLE}
    codes |= {
        rule: f"{SNAKEMAKE_PREAMBLE}; {_adapter_imports(repo, rule)}" for rule in POST_POSE_RULES
    }
    for module in ("pandas", "scipy.signal", "scipy.interpolate", "matplotlib.pyplot"):
        codes[f"import {module}"] = f"import {module}"
    codes |= {"import cv2": "import cv2", "import opensim": "import opensim"}
    codes["snakemake CLI (import snakemake.cli)"] = "import snakemake.cli"
    cases = {name: (*ours, code) for name, code in codes.items()}
    steps = ("calibration", "personAssociation", "triangulation", "filtering", "kinematics")
    cases["Pose2Sim: its five step modules"] = (
        str(pose2sim_python(cache)),
        _env(QT_QPA_PLATFORM="offscreen"),
        "import " + ", ".join(f"Pose2Sim.{step}" for step in steps),
    )
    walls: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (python, env, code) in cases.items():
            walls[name].append(_import_wall(python, code, env))
    return {
        name: {"wall": statistics.median(walls[name]), "heavy": _loaded_heavy(python, code, env)}
        for name, (python, env, code) in cases.items()
    }


def measure(
    repeats: int = 3,
    repo: Path = REPO,
    cache: Path = DEFAULT_CACHE,
    cores: int = 2,
    warmup: bool = True,
    lean: bool = True,
    imports_runs: int = 0,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both measurements, alternating, `repeats` timed runs each; see the module docstring.
    With `lean`, Pose2Sim is also timed without its filtering plots and C3D files.

    Returns {"posebench_wall_s", "pose2sim_wall_s" (and "pose2sim_lean_wall_s"): median
    whole-process walls, "ratio" (and "ratio_lean"): ours / Pose2Sim, "runs": {"ours",
    "pose2sim", "pose2sim_lean"}: per run a dict of seconds, "median": the medians of every
    part, "commands", "load": 1-min load average before each round, "n_jobs", "imports"
    (with imports_runs > 0)}.
    """
    repo, cache = repo.resolve(), cache.resolve()
    setup_pose2sim(cache, say)
    keypoints = keypoint_files(repo, cores, say)
    projects = {
        name: prepare_pose2sim_project(repo, cache, keypoints, folder, overrides)
        for name, (folder, overrides) in VARIANTS.items()
        if lean or name == "pose2sim"
    }
    logs = cache / "logs"
    logs.mkdir(exist_ok=True)

    def run(which: str) -> dict[str, Any]:
        if which == "ours":
            return run_ours(repo, cores, logs)
        return run_pose2sim(cache, projects[which])

    kinds = ["ours", *projects]
    if warmup:
        say("warm-up run of each (untimed)")
        for which in kinds:
            run(which)
    runs: dict[str, list[dict[str, Any]]] = {which: [] for which in kinds}
    load = []
    for k in range(repeats):
        load.append(os.getloadavg()[0])
        # Rotate which goes first, so that a drift in machine load hits all alike.
        for which in kinds[k % len(kinds) :] + kinds[: k % len(kinds)]:
            runs[which].append(run(which))
        walls = ", ".join(f"{which} {runs[which][-1]['wall']:.2f} s" for which in kinds)
        say(f"  run {k + 1}/{repeats}: {walls}")

    def median(which: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[which])

    medians: dict[str, Any] = {
        which: {"wall": median(which, "wall"), "cpu": median(which, "cpu")} for which in kinds
    }
    for part in ("startup", "between_jobs", "closing"):
        medians["ours"][part] = median("ours", part)
    medians["ours"]["jobs"] = {
        rule: statistics.median(r["jobs"][rule] for r in runs["ours"]) for rule in POST_POSE_RULES
    }
    for which in projects:
        for step in ("import Pose2Sim", *POSE2SIM_STEPS):
            medians[which][step] = median(which, step)
    result: dict[str, Any] = {
        "posebench_wall_s": medians["ours"]["wall"],
        "pose2sim_wall_s": medians["pose2sim"]["wall"],
        "ratio": medians["ours"]["wall"] / medians["pose2sim"]["wall"],
        "runs": runs,
        "median": medians,
        "commands": {
            "ours": f"cd {repo} && PYTHONPATH={repo / 'src'} {shlex.join(our_command(cores))}",
            **{
                which: f"cd {project} && QT_QPA_PLATFORM=offscreen "
                + shlex.join(pose2sim_command(cache, project))
                for which, project in projects.items()
            },
        },
        "load": load,
        "n_jobs": runs["ours"][-1]["n_jobs"],
    }
    if lean:
        result["pose2sim_lean_wall_s"] = medians["pose2sim_lean"]["wall"]
        result["ratio_lean"] = medians["ours"]["wall"] / medians["pose2sim_lean"]["wall"]
    if imports_runs:
        result["imports"] = measure_imports(repo, cache, imports_runs)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The printed report: walls, ratios, per-job and per-step walls, commands."""
    m, runs = result["median"], result["runs"]
    variants = [which for which in VARIANTS if which in runs]

    def row(label: str, median: float, values: list[float]) -> str:
        return f"| {label} | {median:.2f} | " + ", ".join(f"{v:.2f}" for v in values) + " |"

    ours = runs["ours"]
    lines = [
        f"median of {len(ours)} alternating runs each, after one warm-up run; 1-min load average"
        " before each round: " + ", ".join(f"{v:.1f}" for v in result["load"]),
        "",
        "| whole process | median wall s | runs wall s | median CPU s (user+sys) |",
        "|---|---|---|---|",
    ]
    labels = {"ours": f"ours: snakemake --forcerun triangulate ({result['n_jobs']} jobs)"}
    for which in variants:
        labels[which] = f"Pose2Sim {POSE2SIM_VERSION}, one process, 5 steps ({LABELS[which]})"
    for which, label in labels.items():
        lines.append(
            row(label, m[which]["wall"], [r["wall"] for r in runs[which]])
            + f" {m[which]['cpu']:.2f} |"
        )
    for which in variants:
        wall = m["ours"]["wall"] / m[which]["wall"]
        cpu = m["ours"]["cpu"] / m[which]["cpu"]
        lines.append(
            f"| ratio ours / Pose2Sim ({LABELS[which]}) | {wall:.2f} | target <= 0.80 | {cpu:.2f} |"
        )
    lines += ["", "| ours: part of the run | median s | runs s |", "|---|---|---|"]
    parts = [("startup", "Snakemake start-up, parsing, DAG (to the first job)")]
    parts += [(rule, f"job {rule} (process start, imports, compute)") for rule in POST_POSE_RULES]
    parts += [
        ("between_jobs", "between jobs (scheduling)"),
        ("closing", "after the last job (rule all, onsuccess, exit)"),
    ]
    for key, label in parts:
        if key in POST_POSE_RULES:
            lines.append(row(label, m["ours"]["jobs"][key], [r["jobs"][key] for r in ours]))
        else:
            lines.append(row(label, m["ours"][key], [r[key] for r in ours]))
    for which in variants:
        lines += [
            "",
            f"| Pose2Sim ({LABELS[which]}): part of the process | median s | runs s |",
            "|---|---|---|",
        ]
        for step in ("import Pose2Sim", *POSE2SIM_STEPS):
            lines.append(row(step, m[which][step], [r[step] for r in runs[which]]))
        rest = [
            r["wall"] - sum(r[s] for s in ("import Pose2Sim", *POSE2SIM_STEPS)) for r in runs[which]
        ]
        lines.append(row("interpreter start and exit (the rest)", statistics.median(rest), rest))
    if "imports" in result:
        lines += ["", "| fresh interpreter importing | median s | heavy modules loaded |"]
        lines.append("|---|---|---|")
        for name, entry in result["imports"].items():
            label = f"job preamble + {name} adapter imports" if name in POST_POSE_RULES else name
            lines.append(f"| {label} | {entry['wall']:.2f} | {', '.join(entry['heavy']) or '-'} |")
    lines += ["", "commands:", *(f"  {command}" for command in result["commands"].values())]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="Pose2Sim venv and project"
    )
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose workflow is timed")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first runs")
    parser.add_argument(
        "--no-lean", action="store_true", help="skip Pose2Sim without plots and C3D files"
    )
    parser.add_argument(
        "--imports", type=int, default=0, metavar="N", help="also time imports (N runs)"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = measure(
        repeats=args.repeats,
        repo=args.repo,
        cache=args.cache,
        cores=args.cores,
        warmup=not args.no_warmup,
        lean=not args.no_lean,
        imports_runs=args.imports,
    )
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
