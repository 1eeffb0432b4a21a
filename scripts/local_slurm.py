"""A real single-node Slurm cluster on loopback, with fake GPUs, to try `profiles/slurm` on
one machine (tests/test_slurm.py uses it; so can you).

    sudo .venv/bin/python scripts/local_slurm.py run -- --configfile config/config.yaml
    sudo .venv/bin/python scripts/local_slurm.py start      # then use sbatch/squeue yourself
    sudo .venv/bin/python scripts/local_slurm.py stop

`run` installs Slurm from Debian's packages when it is missing (slurmctld, slurmd,
slurm-client, munge; needs root and apt-get), starts munged, slurmctld and slurmd on
127.0.0.1 with `--gpus` fake GPU devices (character devices under the state folder), runs
`snakemake --profile profiles/slurm <the arguments after -->` from the current folder,
prints the wall time and the Slurm jobs it saw, and stops every daemon it started, also
when Snakemake fails. Its exit status is Snakemake's. The cluster's state and logs live
in `--state` (default `.slurm-local/`). Its configuration must be /etc/slurm/slurm.conf
and gres.conf: Snakemake's job step drops SLURM_CONF before it calls `srun` inside a job,
which then reads the default location. Those two files are written only where none exists
or this script wrote them (their first line says so), and `stop` removes them, so a
machine with a Slurm of its own is never touched.

What this cluster lacks compared with a real one, and what `run` passes for it: there is
no accounting database (slurmdbd), so job status comes from `squeue`
(`--slurm-status-command squeue`, which needs the `MinJobAge=300` set here) and no account
is looked up (`--slurm-no-account`); the first status check waits 5 s instead of the
plugin's 40 s. The fake GPUs set CUDA_VISIBLE_DEVICES in each job as real ones do, but
there is no card behind them: models fall back to the CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
PROGRAMS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged")
CONFIG_DIR = Path("/etc/slurm")
HEADER = "# Written by scripts/local_slurm.py"
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
# What `run` adds to the profile for a cluster without slurmdbd (see the module docstring).
LOCAL_OPTIONS = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "5",
    "--slurm-no-account",
)  # fmt: skip


class SlurmError(RuntimeError):
    """The local cluster could not be installed, started or stopped."""


def _which(program: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(program, path=path)


def missing_programs() -> list[str]:
    return [program for program in PROGRAMS if _which(program) is None]


def unavailable_reason() -> str | None:
    """Why a local cluster cannot run here (None when it can): the programs are missing
    and cannot be installed, or this process is not root (the daemons run as root)."""
    if os.geteuid() != 0:
        return "the local Slurm cluster needs root (its daemons and munged run as root/munge)"
    if missing_programs() and _which("apt-get") is None:
        return f"Slurm is not installed ({', '.join(missing_programs())}) and there is no apt-get"
    return None


def install(log: Path | None = None) -> None:
    """Install Slurm and munge from Debian's packages if any program is missing."""
    if not missing_programs():
        return
    reason = unavailable_reason()
    if reason:
        raise SlurmError(reason)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        if subprocess.run(command, env=env, stdout=out, stderr=out).returncode != 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=out, stderr=out)
            if subprocess.run(command, env=env, stdout=out, stderr=out).returncode != 0:
                raise SlurmError(f"`{' '.join(command)}` failed" + (f"; see {log}" if log else ""))
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    if missing_programs():
        raise SlurmError(f"installed {', '.join(PACKAGES)} but {missing_programs()} still missing")


def _munge_works() -> bool:
    munge, unmunge = _which("munge"), _which("unmunge")
    if not (munge and unmunge):
        return False
    token = subprocess.run([munge, "-n"], capture_output=True, check=False)
    if token.returncode != 0:
        return False
    check = subprocess.run([unmunge], input=token.stdout, capture_output=True, check=False)
    return check.returncode == 0


def _listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _stop_pid(pidfile: Path, name: str, grace_s: float = 10.0) -> None:
    """SIGTERM the process in `pidfile`, SIGKILL after `grace_s` (slurmd may ignore SIGTERM
    once slurmctld is gone); the pidfile is removed, so a later stop never signals a process
    that reused the number."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # ProcessLookupError once it is gone
            time.sleep(0.1)
        print(f"local_slurm: {name} ignored SIGTERM for {grace_s:.0f} s: SIGKILL", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        pidfile.unlink(missing_ok=True)


@dataclass
class LocalSlurm:
    """One node `localhost` on 127.0.0.1: `cpus` CPUs, `mem_mb` memory and `gpus` fake GPUs
    (more than the machine has is allowed: `SlurmdParameters=config_overrides`), one
    default partition `main`, no accounting. State and logs under `root`, configuration in
    `config_dir` (see the module docstring)."""

    root: Path
    gpus: int = 2
    cpus: int = 8
    mem_mb: int = 16000
    config_dir: Path = CONFIG_DIR

    @property
    def conf(self) -> Path:
        return self.config_dir / "slurm.conf"

    @property
    def controller_log(self) -> Path:
        return self.root / "slurmctld.log"

    @property
    def env(self) -> dict[str, str]:
        """What a client (sbatch, squeue, Snakemake) needs to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def _config_files(self) -> tuple[Path, Path]:
        return self.conf, self.config_dir / "gres.conf"

    def ours(self) -> bool:
        """Whether the configuration files are absent or written by this script."""
        for path in self._config_files():
            if path.exists() and not path.read_text().startswith(HEADER):
                return False
        return True

    def write_config(self) -> None:
        self.root = self.root.resolve()
        if not self.ours():
            raise SlurmError(
                f"{self.conf} or gres.conf exists and was not written by this script: this "
                "machine has a Slurm configuration of its own, which a local test cluster "
                "would overwrite; use that cluster, or run this on another machine"
            )
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for folder in ("state", "spool", "gpus"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if self.gpus < 1:
            raise SlurmError(f"the local cluster needs at least one fake GPU, not {self.gpus}")
        for index in range(self.gpus):
            device = self.root / "gpus" / f"gpu{index}"
            if not device.exists():  # a character device, as /dev/nvidiaN is
                subprocess.run(["mknod", str(device), "c", "1", "3"], check=True)
        files = self.root / "gpus" / (f"gpu[0-{self.gpus - 1}]" if self.gpus > 1 else "gpu0")
        (self.config_dir / "gres.conf").write_text(
            f"{HEADER}: fake GPUs for the local test cluster.\n"
            f"AutoDetect=off\nNodeName=localhost Name=gpu File={files}\n"
        )
        r = self.root
        self.conf.write_text(
            f"""{HEADER}: one node on loopback, fake GPUs, no accounting.
# State and logs: {r}
ClusterName=posebench-local
SlurmctldHost=localhost(127.0.0.1)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={self.controller_log}
SlurmdLogFile={r}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} \
    Gres=gpu:{self.gpus} State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        )

    def _daemon(self, name: str, *args: str, user: str | None = None) -> None:
        program = _which(name)
        if program is None:
            raise SlurmError(f"{name} is not installed; run `{sys.argv[0]} install` as root")
        command = [program, *args]
        if user:
            command = ["runuser", "-u", user, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **self.env}
        )
        if result.returncode != 0:
            raise SlurmError(f"{name} did not start: {result.stderr.strip() or result.stdout}")

    def start(self, timeout_s: float = 60.0) -> None:
        """Start munged (unless one answers), slurmctld and slurmd; wait until the node is
        idle. Raises SlurmError naming what failed (with the daemon's log) and stops what it
        started."""
        for port in (6817, 6818):
            if _listening(port):
                raise SlurmError(
                    f"something already listens on port {port} (a Slurm daemon?); stop it "
                    f"first (`{Path(sys.argv[0]).name} stop --state <folder>`)"
                )
        self.write_config()
        try:
            if not _munge_works():
                run_dir = Path("/run/munge")
                run_dir.mkdir(parents=True, exist_ok=True)
                shutil.chown(run_dir, "munge", "munge")
                self._daemon("munged", user="munge")
                (self.root / "munged.started").write_text("")
            self._daemon("slurmctld", "-f", str(self.conf))
            self._daemon("slurmd", "-f", str(self.conf), "-N", "localhost")
            self._wait_idle(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            result = self.command("sinfo", "-h", "-N", "-o", "%T")
            state = result.stdout.strip()
            if state == "idle":
                return
            if state.startswith("drain"):
                reason = self.command("sinfo", "-R").stdout
                raise SlurmError(f"the node is drained: {reason}; see {self.root}/slurmd.log")
            time.sleep(0.5)
        raise SlurmError(
            f"the node is not idle after {timeout_s:.0f} s (state {state!r}); see "
            f"{self.controller_log} and {self.root}/slurmd.log"
        )

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        program = _which(args[0]) or args[0]
        return subprocess.run(
            [program, *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **self.env},
        )

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (finished ones for MinJobAge = 300 s), as
        `scontrol show job -d` fields (JobId, JobName, Comment, JobState, StartTime,
        EndTime, WorkDir, JOB_GRES, TresPerJob, ...)."""
        text = self.command("scontrol", "show", "job", "-d", "--oneliner").stdout
        jobs = []
        for line in text.splitlines():
            if not line.strip() or line.startswith("No jobs"):
                continue
            fields: dict[str, str] = {}
            for token in line.split():
                key, _, value = token.partition("=")
                if key and key not in fields:
                    fields[key] = value
            jobs.append(fields)
        return jobs

    def stop(self) -> None:
        """Cancel what is left, stop slurmd, then slurmctld, then munged if we started it."""
        if (self.root / "slurmctld.pid").exists():
            ids = self.command("squeue", "-h", "-o", "%i").stdout.split()
            if ids:
                self.command("scancel", *ids)
        _stop_pid(self.root / "slurmd.pid", "slurmd")
        _stop_pid(self.root / "slurmctld.pid", "slurmctld")
        marker = self.root / "munged.started"
        if marker.exists():
            _stop_pid(Path("/run/munge/munged.pid"), "munged")
            marker.unlink()
        if self.ours():
            for path in self._config_files():
                path.unlink(missing_ok=True)

    def __enter__(self) -> LocalSlurm:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def snakemake_command(*args: str, profile: Path = PROFILE) -> list[str]:
    """`python -m snakemake --profile <profile> <LOCAL_OPTIONS> args` with this interpreter."""
    return [sys.executable, "-m", "snakemake", "--profile", str(profile), *LOCAL_OPTIONS, *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["install", "start", "stop", "run"])
    parser.add_argument("--state", type=Path, default=Path(".slurm-local"))
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=8)
    argv = sys.argv[1:] if argv is None else argv
    ours, extra = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    args = parser.parse_args(ours)
    cluster = LocalSlurm(args.state, gpus=args.gpus, cpus=args.cpus)
    try:
        if args.action == "install":
            install()
        elif args.action == "start":
            install()
            cluster.start()
            print(
                f"local_slurm: the cluster runs; stop it with `{Path(sys.argv[0]).name} stop "
                f"--state {cluster.root}`",
                file=sys.stderr,
            )
        elif args.action == "stop":
            cluster.root = cluster.root.resolve()
            if not (cluster.root / "slurmctld.pid").exists():
                print(f"local_slurm: no cluster state in {cluster.root}", file=sys.stderr)
                return 1
            cluster.stop()
        else:
            install()
            with cluster:
                before = {job["JobId"] for job in cluster.jobs()}
                started = time.monotonic()
                command = snakemake_command(*extra)
                print("local_slurm:", " ".join(command), file=sys.stderr)
                result = subprocess.run(command, env={**os.environ, **cluster.env})
                wall = time.monotonic() - started
                jobs = [job for job in cluster.jobs() if job["JobId"] not in before]
                print(f"local_slurm: {len(jobs)} Slurm jobs, wall {wall:.1f} s", file=sys.stderr)
                for job in jobs:
                    print(
                        f"  {job.get('JobId')} {job.get('JobState')} "
                        f"{job.get('Comment', '')} gres={job.get('JOB_GRES')}",
                        file=sys.stderr,
                    )
                return result.returncode
    except SlurmError as error:
        print(f"local_slurm: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
