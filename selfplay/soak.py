"""`ponder bench soak`: does a long training run stay inside its memory and disk? (issue 27)

    ponder bench soak --game connect_four --minutes 60 [--out DIR] [--warmup 10] [--every 10]
                      [--set KEY=VALUE ...] [--json]
    ponder bench soak --attach PID --run DIR [--out DIR] [--warmup 10] [--every 10] [--json]
    ponder bench soak --from SOAK_JSON [--out DIR] [--warmup 10] [--json]

Runs `ponder train` for ``--minutes`` in a fresh run folder and samples, every ``--every``
seconds, the resident memory (VmRSS) of the trainer and of each of its child processes (the
actors), and the disk used by the run's checkpoints and replay. After ``--warmup`` minutes
(the allocator settling) and once the replay is full (until then the trainer grows by
design, up to ``replay.capacity_positions``) memory should be flat: the report gives each
process's growth from the median of the first fifth of those samples to the median of the
last fifth, in percent (and the same after the warm-up alone), and the disk at its peak
against the bound the run's retention implies (``trainer.keep_checkpoints`` step files plus
``latest.pt``, and one replay file).
With ``--attach`` it starts nothing: it watches a training run already under way (the
`ponder train` process PID writing to the run folder DIR, say a recipe's two-hour run) until
that process ends, so a real run is measured at the cost of reading /proc every few seconds.
``--from`` reports again from a saved ``soak.json``.
Writes ``soak.json`` and ``soak.png`` (memory and disk against time) to ``--out``; prints one
line per process and the verdict. A benchmark: the hour's result goes in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from envs.errors import UsageError

FLAT_PERCENT = 5.0      # the target: resident memory within 5% after warm-up


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()   # what is measured: one of the three
    mode.add_argument("--game", help="game to train (see `ponder games`)")
    mode.add_argument("--attach", type=int, metavar="PID",
                      help="watch the running `ponder train` process PID (with --run) instead of starting one")
    mode.add_argument("--from", dest="from_file", metavar="SOAK_JSON",
                      help="report again from the samples of a saved soak.json (runs and watches nothing)")
    parser.add_argument("--run", metavar="DIR", help="with --attach: the run folder that process writes")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training time (default 60); with --attach, the most minutes to watch (default: until it ends)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="minutes left out before growth is measured (default 10, or a sixth of a shorter run)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--out", default="soak", help="folder for soak.json, soak.png and the run (default ./soak)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to `ponder train --set`")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


# ----------------------------------------------------------------------------------- sampling
def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def sample(trainer_pid: int | None, run: Path, started: float) -> dict:
    """One sample: seconds since start, KiB resident per process (by role), bytes on disk.
    With no pid (the trainer has ended) only the disk is read: the run as it was left, final
    checkpoint included, which the last sample taken while it ran can miss."""
    from selfplay.processes import descendants_of, resident_kib

    memory = {} if trainer_pid is None else {"trainer": resident_kib(trainer_pid) or 0}
    helpers = 0
    for pid in sorted(descendants_of(trainer_pid)) if trainer_pid is not None else []:
        rss = resident_kib(pid)
        if rss is None:
            continue
        if "resource_tracker" in _command_line(pid):   # multiprocessing's bookkeeper, not an actor
            memory["tracker"] = rss
        else:
            memory[f"actor{helpers}"] = rss
            helpers += 1
    checkpoints = run / "checkpoints"
    return {"t": round(time.monotonic() - started, 1), "rss_kib": memory,
            "checkpoint_bytes": _folder_bytes(checkpoints) if checkpoints.exists() else 0,
            "checkpoint_files": len(list(checkpoints.glob("*.pt"))) if checkpoints.exists() else 0,
            "replay_bytes": _folder_bytes(run / "replay") if (run / "replay").exists() else 0}


# ----------------------------------------------------------------------------------- reading
def growth(samples: list[dict], warmup_seconds: float) -> dict[str, dict]:
    """Per process: median RSS of the first and last fifth of the post-warm-up samples, growth %."""
    after = [s for s in samples if s["t"] >= warmup_seconds]
    names = sorted({name for s in after for name in s["rss_kib"]})
    result = {}
    for name in names:
        series = [s["rss_kib"][name] for s in after if name in s["rss_kib"]]
        if len(series) < 5:
            continue
        fifth = max(1, len(series) // 5)
        first, last = statistics.median(series[:fifth]), statistics.median(series[-fifth:])
        result[name] = {"first_mib": round(first / 1024, 1), "last_mib": round(last / 1024, 1),
                        "peak_mib": round(max(series) / 1024, 1),
                        "growth_percent": round(100.0 * (last - first) / first, 2) if first else None}
    return result


def replay_full_seconds(samples: list[dict]) -> float | None:
    """When the replay reached its capacity: the first sample whose replay file is within 1% of
    its size at the end (the median of the last fifth of the samples, so that a sample taken
    while a new file was being written beside the old one does not count). None without a
    replay file. Until then the trainer's memory grows by design (the buffer filling, bounded
    by ``replay.capacity_positions``), so a leak is looked for only after it."""
    sizes = [s["replay_bytes"] for s in samples]
    final = statistics.median(sizes[-max(1, len(sizes) // 5):]) if sizes else 0
    if final <= 0:
        return None
    return next(s["t"] for s in samples if s["replay_bytes"] >= 0.99 * final)


def disk_bound(run: Path, samples: list[dict]) -> dict:
    """Peak disk against what retention allows: (keep + 1) checkpoint files and one replay."""
    from selfplay.config import read_toml

    keep = read_toml(run / "config.toml").trainer.keep_checkpoints if (run / "config.toml").exists() else None
    largest = max((p.stat().st_size for p in (run / "checkpoints").glob("*.pt")), default=0) \
        if (run / "checkpoints").exists() else 0
    peak_files = max((s["checkpoint_files"] for s in samples), default=0)
    return {"keep_checkpoints": keep, "peak_checkpoint_files": peak_files,
            "checkpoint_file_bound": None if keep is None else keep + 1,
            "peak_checkpoint_mib": round(max((s["checkpoint_bytes"] for s in samples), default=0) / 2**20, 1),
            "checkpoint_mib_bound": None if keep is None else round((keep + 1) * largest / 2**20, 1),
            "peak_replay_mib": round(max((s["replay_bytes"] for s in samples), default=0) / 2**20, 1),
            "last_replay_mib": round(samples[-1]["replay_bytes"] / 2**20, 1) if samples else 0.0}


def plot(samples: list[dict], warmup_seconds: float, path: Path, replay_full: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["t"] / 60 for s in samples]
    figure, (memory, disk) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name in sorted({name for s in samples for name in s["rss_kib"]}):
        points = [(s["t"] / 60, s["rss_kib"][name] / 1024) for s in samples if name in s["rss_kib"]]
        memory.plot([p[0] for p in points], [p[1] for p in points], label=name)
    memory.axvline(warmup_seconds / 60, color="grey", linestyle=":", label="end of warm-up")
    if replay_full is not None:
        memory.axvline(replay_full / 60, color="grey", linestyle="--", label="replay full")
    memory.set_ylabel("resident memory (MiB)")
    memory.legend(fontsize=8)
    disk.plot(minutes, [s["checkpoint_bytes"] / 2**20 for s in samples], label="checkpoints")
    disk.plot(minutes, [s["replay_bytes"] / 2**20 for s in samples], label="replay")
    disk.set_ylabel("disk (MiB)")
    disk.set_xlabel("minutes")
    disk.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _read_saved(path: Path) -> dict:
    """A soak.json written by this command; UsageError (one line) if missing or not one."""
    try:
        saved = json.loads(path.read_text())
        if not (isinstance(saved, dict) and isinstance(saved["series"], list) and isinstance(saved["disk"], dict)):
            raise KeyError("series")
        saved.setdefault("run_folder", "")
        return saved
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is not a soak.json written by `ponder bench soak`") from None


# ----------------------------------------------------------------------------------- watching
def watch_started(args: argparse.Namespace, run_dir: Path) -> list[dict]:
    """Start `ponder train` for ``--minutes`` and sample it until it exits; UsageError if it fails."""
    command = [sys.executable, "-m", "scripts.ponder", "train", "--game", args.game, "--out", str(run_dir),
               "--minutes", str(args.minutes), "--quiet", *[f"--set={item}" for item in args.overrides]]
    trainer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    samples: list[dict] = []
    try:
        while trainer.poll() is None:
            samples.append(sample(trainer.pid, run_dir, started))
            deadline = time.monotonic() + args.every
            while trainer.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
    except KeyboardInterrupt:
        trainer.send_signal(signal.SIGINT)
        trainer.wait(timeout=120)
        raise
    samples.append(sample(None, run_dir, started))
    stderr = trainer.stderr.read() if trainer.stderr else ""
    if trainer.returncode != 0:
        raise UsageError(f"the training run failed (exit {trainer.returncode}): "
                         f"{' '.join(stderr.strip().splitlines()[-1:])[:300]}")
    return samples


def _running(pid: int) -> bool:
    """True while process ``pid`` runs: it exists and is not a zombie (ended, not yet reaped by
    its parent, which is not this command)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rpartition(")")[2].split()[:1] != ["Z"]


def watch_attached(pid: int, run_dir: Path, every: float, max_seconds: float | None) -> list[dict]:
    """Sample a trainer this command did not start until it exits, ``max_seconds`` pass, or
    Ctrl-C or SIGTERM (either keeps what was sampled); the trainer is never signalled."""
    started = time.monotonic()
    samples: list[dict] = []

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while _running(pid) and (max_seconds is None or time.monotonic() - started < max_seconds):
            samples.append(sample(pid, run_dir, started))
            deadline = time.monotonic() + every
            while _running(pid) and time.monotonic() < deadline:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if samples and not _running(pid):
        samples.append(sample(None, run_dir, started))
    return samples


# ----------------------------------------------------------------------------------- the command
def run(args: argparse.Namespace) -> int:
    watch_limit = args.minutes
    if args.minutes is None:
        args.minutes = 60.0
    if args.minutes <= 0 or args.every <= 0:
        raise UsageError("--minutes and --every must be positive")
    warmup = args.warmup if args.warmup is not None else min(10.0, args.minutes / 6)
    if not 0 <= warmup < args.minutes:
        raise UsageError(f"--warmup must be from 0 to less than --minutes ({args.minutes}), not {warmup}")
    out = Path(args.out)
    if args.from_file is not None:
        saved = _read_saved(Path(args.from_file))
        samples, run_dir, started_by = saved["series"], Path(saved["run_folder"]), saved["run"]
        args.game, args.every, args.overrides = saved.get("game"), saved["every_seconds"], saved.get("overrides", [])
        disk = saved["disk"]
        out.mkdir(parents=True, exist_ok=True)
    elif args.attach is not None:
        if args.overrides or args.run is None:
            raise UsageError("--attach watches a run under way: give --run DIR, and no --set")
        run_dir, started_by = Path(args.run), f"attached to pid {args.attach}"
        if not (run_dir / "config.toml").is_file():
            raise UsageError(f"{run_dir} is not a run folder (no config.toml)")
        if not _running(args.attach) or "train" not in _command_line(args.attach):
            raise UsageError(f"no `ponder train` process with pid {args.attach}")
        out.mkdir(parents=True, exist_ok=True)
        samples = watch_attached(args.attach, run_dir, args.every,
                                 None if watch_limit is None else watch_limit * 60)
    else:
        if args.game is None:
            raise UsageError("give --game to train, or --attach PID --run DIR to watch a run under way")
        out.mkdir(parents=True, exist_ok=True)
        run_dir, started_by = out / "run", "ponder train --game " + args.game
        if run_dir.exists():
            raise UsageError(f"{run_dir} already exists: give a new --out")
        samples = watch_started(args, run_dir)
    if len(samples) < 2:
        raise UsageError("the run ended before two samples were taken: nothing to measure")
    if args.from_file is None:
        disk = disk_bound(run_dir, samples)
    by_process = growth(samples, warmup * 60)
    full = replay_full_seconds(samples)
    settled = growth(samples, max(warmup * 60, full)) if full is not None else {}
    from selfplay.machine import describe

    def is_flat(table: dict) -> bool:
        return bool(table) and all(entry["growth_percent"] is not None and abs(entry["growth_percent"]) <= FLAT_PERCENT
                                   for entry in table.values())

    flat = is_flat(settled) if settled else is_flat(by_process)
    bounded = disk["checkpoint_file_bound"] is None or disk["peak_checkpoint_files"] <= disk["checkpoint_file_bound"]
    report = {"game": args.game, "run": started_by, "run_folder": str(run_dir),
              "minutes": round(samples[-1]["t"] / 60, 1), "warmup_minutes": warmup, "every_seconds": args.every,
              "overrides": args.overrides, "machine": describe(), "samples": len(samples),
              "memory": by_process, "replay_full_minutes": None if full is None else round(full / 60, 1),
              "memory_replay_full": settled, "memory_flat": flat, "flat_percent": FLAT_PERCENT,
              "disk": disk, "disk_bounded": bounded, "series": samples}
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    plot(samples, warmup * 60, out / "soak.png", full)
    if args.json:
        print(json.dumps({key: value for key, value in report.items() if key != "series"}))
    else:
        for title, table in ((f"after {warmup:.3g} min of warm-up", by_process),
                             (f"after the replay filled ({report['replay_full_minutes']} min)", settled)):
            for name, entry in table.items():
                print(f"{name:8s} {entry['first_mib']:8.1f} -> {entry['last_mib']:8.1f} MiB {title} "
                      f"({entry['growth_percent']:+.2f}%), peak {entry['peak_mib']:.1f} MiB")
        print(f"disk: checkpoints peak {disk['peak_checkpoint_mib']} MiB in at most {disk['peak_checkpoint_files']} "
              f"files (retention allows {disk['checkpoint_file_bound']}), replay {disk['last_replay_mib']} MiB")
        after = "the replay filled" if settled else f"{warmup:.3g} min of warm-up (the replay never filled)"
        print(f"memory {'flat' if flat else 'NOT flat'} within {FLAT_PERCENT}% after {after}; "
              f"disk {'bounded' if bounded else 'NOT bounded'} by retention; "
              f"{len(samples)} samples; {out / 'soak.json'}, {out / 'soak.png'}")
    return 0
