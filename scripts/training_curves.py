"""Training curves from run folders' TensorBoard logs: a scalar against wall-clock minutes.

Reads `DIR/tb` of each run (label=DIR, or DIR alone), plots the chosen scalar (by default the
periodic evaluation's optimal-move share with search) against minutes since the run's first
logged point, and writes a markdown table of the value at each evaluation and the first time
each ``--threshold`` was reached. Used for the training curves of docs/notebook.md.

    python scripts/training_curves.py "puct, 8 sims=runs/a" "gumbel, 8 sims=runs/b" \\
        --tag eval/optimal_moves/search --threshold 0.99 --out curves.png --markdown curves.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def read_curve(run_dir: Path, tag: str) -> list[tuple[float, int, float]]:
    """(minutes since the run's first event, learner step, value) of ``tag`` in ``run_dir/tb``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    if tag not in tags:
        raise SystemExit(f"{run_dir}: no scalar {tag!r} (has: {', '.join(sorted(tags))})")
    start = min(accumulator.Scalars(name)[0].wall_time for name in tags if accumulator.Scalars(name))
    return [((event.wall_time - start) / 60.0, event.step, event.value) for event in accumulator.Scalars(tag)]


def first_reaching(curve: list[tuple[float, int, float]], threshold: float) -> tuple[float, int] | None:
    for minutes, step, value in curve:
        if value >= threshold - 1e-9:
            return minutes, step
    return None


def publish(table: str, series: dict[str, tuple[list[float], list[float]]], ylabel: str,
            thresholds: list[float], markdown: Path | None, png: Path | None,
            ylim: tuple[float, float] | None = None) -> None:
    """Print the markdown ``table`` (and write it to ``markdown``); plot each series
    (label -> minutes, values) against training minutes into ``png``, thresholds dotted."""
    print(table)
    if markdown:
        markdown.write_text(table)
    if not png:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, (minutes, values) in series.items():
        axes.plot(minutes, values, marker="o", label=label)
    for threshold in thresholds:
        axes.axhline(threshold, color="grey", linewidth=0.8, linestyle=":")
    if ylim:
        axes.set_ylim(*ylim)
    axes.set_xlabel("wall-clock minutes of training")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
    print(f"plot: {png}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR or RUN_DIR")
    parser.add_argument("--tag", default="eval/optimal_moves/search")
    parser.add_argument("--threshold", type=float, action="append", default=[])
    parser.add_argument("--out", type=Path, help="PNG plot")
    parser.add_argument("--markdown", type=Path, help="markdown table")
    args = parser.parse_args()

    curves = {}
    for spec in args.runs:
        label, _, path = spec.rpartition("=") if "=" in spec else (spec, "", spec)
        curves[label] = read_curve(Path(path), args.tag)

    lines = [f"`{args.tag}` by wall-clock minutes (learner step in brackets):", ""]
    lines.append("| run | " + " | ".join(f"first >= {t:g}" for t in args.threshold) + " | values |")
    lines.append("|---|" + "---|" * len(args.threshold) + "---|")
    for label, curve in curves.items():
        reached = []
        for threshold in args.threshold:
            hit = first_reaching(curve, threshold)
            reached.append(f"{hit[0]:.1f} min ({hit[1]})" if hit else "not reached")
        values = ", ".join(f"{minutes:.1f}: {value:.4f}" for minutes, _, value in curve)
        lines.append(f"| {label} | " + " | ".join(reached) + f" | {values} |")
    series = {label: ([c[0] for c in curve], [c[2] for c in curve]) for label, curve in curves.items()}
    publish("\n".join(lines) + "\n", series, args.tag, args.threshold, args.markdown, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
