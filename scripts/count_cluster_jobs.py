"""How many Slurm jobs a run submits through `profiles/slurm`, with the profile's grouping
and without it, for the embedded demo and for a dataset shaped like OpenCap's whole
LabValidation set. Counted from Snakemake's own dry runs; nothing is submitted and no
cluster is needed.

    .venv/bin/python scripts/count_cluster_jobs.py

The LabValidation-shaped dataset is built in a temporary folder by benchmark_dag's
`build_labvalidation` (placeholder videos the adapter accepts): the 9 subjects with video
(subject2 to subject11 without subject6), 5 cameras, Session0 (static1, squats1,
squatsAsym1, STS1, STSweakLegs1, DJ1-3, DJAsym1-3) and Session1 (walking1-3, walkingTS1-3):
16 scored trials per subject, as in the real dataset. It is scored with one top-down model
(synthpose-vitpose-base and its RT-DETR detector) on OpenCap's three camera setups, scaled
with the dataset's mocap model (OpenCapBench's protocol). Only the dataset description (a
localrule) runs for real: the dry run needs the sample sheet it writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from benchmark_dag import build_labvalidation, dataset_entry, parse_job_stats

from posebench.paths import PATHS

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
PROFILE = REPO / "profiles" / "slurm"
SUBJECTS = [f"subject{n}" for n in range(2, 12) if n != 6]
TRIALS = {
    "Session0": ["static1", "squats1", "squatsAsym1", "STS1", "STSweakLegs1"]
    + [f"DJ{i}" for i in (1, 2, 3)]
    + [f"DJAsym{i}" for i in (1, 2, 3)],
    "Session1": [f"walking{i}" for i in (1, 2, 3)] + [f"walkingTS{i}" for i in (1, 2, 3)],
}
# A top-level job in a dry run: `rule x:` / `checkpoint x:` (grouped jobs are indented).
JOB_LINE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$", re.M)
GROUP_LINE = re.compile(r"^\[.*\] Group job (\w+) ", re.M)


def local_rules() -> set[str]:
    """The workflow's localrules, from the `localrules:` blocks of workflow/rules/."""
    names: set[str] = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:\s+\w+,?\n)+)", path.read_text(), re.M):
            names.update(re.findall(r"\w+", block))
    return names | {"all"}


def snakemake(workdir: Path, configs: list[Path], *args: str) -> str:
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE),
        "--directory", str(workdir),
        *args,
        "--configfile", *map(str, configs),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return result.stdout + result.stderr


def ungrouped_profile(folder: Path) -> Path:
    """profiles/slurm without its `groups` and `group-components`."""
    settings = yaml.safe_load((PROFILE / "config.yaml").read_text())
    settings.pop("groups", None)
    settings.pop("group-components", None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(settings))
    return folder


def sbatch_jobs(workdir: Path, configs: list[Path], profile: Path) -> tuple[int, dict[str, int]]:
    """Jobs a run would submit with `profile` (every top-level job but localrules, a group
    counting once), and the per-rule job counts of the run."""
    text = snakemake(workdir, configs, "--profile", str(profile), "--dry-run")
    local = local_rules()
    rules = [rule for rule in JOB_LINE.findall(text) if rule not in local]
    counts = {rule: n for rule, n in parse_job_stats(text).items() if rule != "total"}
    return len(rules) + len(GROUP_LINE.findall(text)), counts


def count(name: str, workdir: Path, configs: list[Path], samples: list[str], tmp: Path) -> None:
    snakemake(workdir, configs, "--cores", "1", *samples)  # the sample sheets (localrule)
    grouped, _ = sbatch_jobs(workdir, configs, PROFILE)
    ungrouped, counts = sbatch_jobs(workdir, configs, ungrouped_profile(tmp / "ungrouped"))
    jobs = ", ".join(f"{rule} {n}" for rule, n in sorted(counts.items()))
    print(f"| {name} | {ungrouped} | {grouped} | {jobs} |")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="posebench-count-") as folder:
        tmp = Path(folder)
        print(
            "| run | sbatch jobs without grouping | with the profile's grouping | jobs per rule |"
        )
        print("|---|---|---|---|")
        demo = tmp / "demo"
        demo.mkdir()
        os.symlink(REPO / "resources", demo / "resources")  # the fetched demo data
        count("demo", demo, [DEFAULT_CONFIG], [PATHS.samples.format(dataset="pose2sim-demo")], tmp)
        work = tmp / "labvalidation"
        work.mkdir()
        dataset = tmp / "LabValidation"
        build_labvalidation(dataset, SUBJECTS, session_trials=TRIALS)
        overlay = {
            "run": {"datasets": ["labvalidation"], "models": ["synthpose-vitpose-base"]},
            "datasets": {"labvalidation": dataset_entry(dataset)},
        }
        config = work / "labvalidation.yaml"
        config.write_text(yaml.safe_dump(overlay))
        samples = [PATHS.samples.format(dataset="labvalidation")]
        count(
            "LabValidation-shaped, 1 model, 3 setups", work, [DEFAULT_CONFIG, config], samples, tmp
        )


if __name__ == "__main__":
    main()
