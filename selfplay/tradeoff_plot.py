"""`ponder tradeoff`'s outputs: tradeoff.json, two plots, report.md and the terminal summary.

Built from the results dict alone (`selfplay.tradeoff_cli.summarize`), so a report can be
redrawn from a saved ``tradeoff.json``. Plots use matplotlib's Agg backend (no display):

* ``elo_by_training.png``: Elo against training compute (log), one curve per simulation
  count, 95% interval bars, the anchors as dotted lines;
* ``iso_elo.png``: the iso-Elo frontier, training compute against network evaluations per
  move (log-log), one line per Elo level: how much training each amount of search needs to
  reach it.
"""
from __future__ import annotations

import json
from pathlib import Path

ELO_PLOT = "elo_by_training.png"
FRONTIER_PLOT = "iso_elo.png"
REPORT_FILE = "report.md"


def _fold(value) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}" if value >= 0.01 else f"{value:.2g}"


def fold_text(estimate: dict) -> str:
    """"3.1 [1.8, 6.0]"-fold, with infinite ends written as such."""
    unbounded = estimate.get("unbounded") or {}

    def end(name: str) -> str:
        if name in unbounded:
            return "∞" if unbounded[name] == "+" else "0"
        return _fold(estimate.get(name))

    return f"{end('value')} [{end('low')}, {end('high')}]"


def _elo_text(estimate: dict) -> str:
    def number(value) -> str:
        return "n/a" if value is None else f"{value:.0f}"

    return f"{number(estimate.get('value'))} [{number(estimate.get('low'))}, {number(estimate.get('high'))}]"


def _clock(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _train_text(results: dict, value: float) -> str:
    return _clock(value) if results["train_axis"] == "seconds" else f"{value:,.0f}"


def _compact(value: float, _position=None) -> str:
    """Axis tick text: 45, 1.5k, 2.3M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def reading(entry: dict, results: dict) -> str:
    """One sentence that says what a window's fit means."""
    train = entry["elo_per_doubling_train"]
    search = entry["elo_per_doubling_search"]
    span = f"{_train_text(results, entry['train_from'])} to {_train_text(results, entry['train_to'])}"
    if train.get("value") is None or train["value"] <= 0:
        verb = "lost Elo" if train.get("high") is not None and train["high"] < 0 else "bought no Elo"
        return (f"{entry['window']} ({span}): training {verb} here ({_elo_text(train)} per doubling), so no "
                f"amount of it stands in for search, which gives {_elo_text(search)} Elo per doubling.")
    fold = entry["train_fold_per_search_doubling"]
    unsure = train.get("low") is None or train["low"] <= 0
    tail = " (the training slope's interval reaches 0, so the upper end is open)" if unsure else ""
    return (f"{entry['window']} ({span}): one doubling of search is worth {fold_text(fold)}-fold training "
            f"({_elo_text(search)} Elo per doubling of search, {_elo_text(train)} per doubling of training){tail}.")


def summary_lines(results: dict) -> list[str]:
    """The terminal answer: one line per window, then the precision."""
    sims = ",".join(map(str, results["sims"]))
    lines = [f"{results['game']}: {len(results['checkpoints'])} checkpoints x sims {sims} "
             f"({results['root']}), training axis: {results['train_axis_label']}"]
    lines += ["  " + reading(entry, results) for entry in results["exchange"]]
    precision, schedule = results["precision"], results["schedule"]
    per_pair = schedule["games_per_pair"] or {}
    lines.append(f"  precision: agents' 95% half-widths median ±{precision['agent_half_width_median']} Elo, widest "
                 f"±{precision['agent_half_width_max']}; {results['totals']['games']} games over "
                 f"{schedule['pairs_played']} pairings ({per_pair.get('min')}-{per_pair.get('max')} each), "
                 f"stopped by {schedule['stopped_by']}")
    return lines


# --- plots -------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(plt, count: int):
    cmap = plt.get_cmap("viridis")
    return [cmap(i / max(1, count - 1) * 0.9) for i in range(count)]


def _log_training_axis(axes) -> None:
    from matplotlib.ticker import FuncFormatter

    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(FuncFormatter(_compact))


def plot_elo_by_training(results: dict, path: Path) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 5.0))
    agents = [p for p in results["players"] if p["kind"] == "agent"]
    for colour, sims in zip(_colours(plt, len(results["sims"])), results["sims"]):
        curve = [p for p in agents if p["sims"] == sims and p["elo"] is not None]
        xs = [p["train"] for p in curve]
        ys = [p["elo"] for p in curve]
        below = [y - (p["low"] if p["low"] is not None else y) for p, y in zip(curve, ys)]
        above = [(p["high"] if p["high"] is not None else y) - y for p, y in zip(curve, ys)]
        label = "policy only (1 eval/move)" if sims == 0 else f"{sims} sims ({sims + 1} evals/move)"
        axes.errorbar(xs, ys, yerr=[below, above], marker="o", markersize=3, capsize=2, color=colour, label=label)
    for player in results["players"]:
        if player["kind"] == "baseline" and player["elo"] is not None:
            axes.axhline(player["elo"], color="grey", linestyle=":", linewidth=1)
            axes.annotate(player["name"], (0.0, player["elo"]), xycoords=("axes fraction", "data"), fontsize=7,
                          color="grey", ha="left", va="bottom")
    _log_training_axis(axes)
    axes.set_xlabel(f"{results['train_axis_label']} (log scale)")
    axes.set_ylabel(f"Elo ({results['elo']['anchor']} = 0), 95% bootstrap interval")
    axes.set_title(f"{results['game']}: Elo against training, one curve per search budget", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_frontier(results: dict, path: Path) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.0, 5.0))
    lines = [line for line in results["frontier"] if len(line["points"]) >= 1]
    for colour, line in zip(_colours(plt, len(lines)), lines):
        points = sorted(line["points"], key=lambda p: p["sims"])
        axes.plot([p["train"] for p in points], [p["sims"] + 1 for p in points], marker="o", color=colour,
                  label=f"Elo {line['elo']:.0f}")
    overall = next((e for e in results["exchange"] if e["window"] == "all"), None)
    _log_training_axis(axes)
    axes.set_yscale("log", base=2)
    ticks = [s + 1 for s in results["sims"]]
    axes.set_yticks(ticks)
    axes.set_yticklabels([f"{t} ({'policy' if t == 1 else f'{t - 1} sims'})" for t in ticks], fontsize=7)
    axes.set_xlabel(f"{results['train_axis_label']} to first reach the level (log scale)")
    axes.set_ylabel("network evaluations per move (log scale)")
    title = f"{results['game']}: iso-Elo frontier, training against search"
    if overall is not None:
        fold = fold_text(overall["train_fold_per_search_doubling"])
        title += f"\nfit over the run: one doubling of search = {fold}-fold training"
    axes.set_title(title, fontsize=9)
    if not lines:
        axes.text(0.5, 0.5, "no Elo level is crossed inside the run", transform=axes.transAxes, ha="center")
    axes.grid(True, alpha=0.3, which="both")
    if lines:
        axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- the report --------------------------------------------------------------------------------------


def render_markdown(results: dict) -> str:
    machine = results["machine"]
    schedule, precision, totals = results["schedule"], results["precision"], results["totals"]
    per_pair = schedule["games_per_pair"] or {}
    lines = [f"# Training against search: {results['game']}", "",
             f"Run `{results['run']}`, {len(results['checkpoints'])} checkpoints spread over its wall-clock "
             f"({results['spacing']} spacing), simulations {', '.join(map(str, results['sims']))} with root "
             f"`{results['root']}`, anchors {', '.join(results['anchors'])} ({results['elo']['anchor']} = 0 Elo).", "",
             "```", results["command"], "```", "",
             f"{results['date']}; {machine['cpu']}, {machine['cores']} cores, CPU only"
             + (f"; {results['note']}" if results.get("note") else "") + ".", "",
             "## The exchange rate", "",
             "Elo = a log2(training) + b log2(search) + c, least squares over the agents of each stretch of "
             f"training (training: {results['train_axis_label']}; search: network evaluations per move, sims + 1); "
             "one doubling of search is worth 2^(b/a)-fold training. 95% intervals from the bootstrap "
             f"replicates of the ratings ({results['elo']['bootstrap_replicates']}).", "",
             "| training | checkpoints | Elo per doubling of training (a) | Elo per doubling of search (b) "
             "| one doubling of search = | fold training |",
             "|---|---|---|---|---|---|"]
    for entry in results["exchange"]:
        span = f"{_train_text(results, entry['train_from'])} - {_train_text(results, entry['train_to'])}"
        train = entry["elo_per_doubling_train"]
        if train.get("value") is None or train["value"] <= 0:
            rate = "n/a: training gained no Elo here | n/a"
        else:
            rate = (f"{_doublings_text(entry['train_doublings_per_search_doubling'])} doublings of training | "
                    f"{fold_text(entry['train_fold_per_search_doubling'])}")
        lines.append(f"| {entry['window']} ({span}) | {len(entry['checkpoints'])} | {_elo_text(train)} | "
                     f"{_elo_text(entry['elo_per_doubling_search'])} | {rate} |")
    lines += [""] + [f"* {reading(entry, results)}" for entry in results["exchange"]] + [""]
    lines += [f"![Elo against training]({ELO_PLOT})", "", f"![iso-Elo frontier]({FRONTIER_PLOT})", ""]
    lines += ["## Checkpoints and their training cost", "",
              "Self-play and learner network evaluations are estimates from the run's config: positions x "
              "(training simulations + 1), and samples x (unroll steps + 1) forward passes.", "",
              "| checkpoint | wall-clock | self-play positions | learner steps | samples | network evals (est.) |",
              "|---|---|---|---|---|---|"]
    for checkpoint in results["checkpoints"]:
        cost = checkpoint["cost"]
        lines.append(f"| {checkpoint['label']} | {_clock(cost['seconds'])} | {cost['positions']:,} | "
                     f"{cost['learner_steps']:,} | {cost['samples']:,} | {cost['network_evals']:.3g} |")
    by_name = {p["name"]: p for p in results["players"]}
    lines += ["", "## Elo (95% interval)", "",
              "| checkpoint | " + " | ".join("policy" if s == 0 else f"{s} sims" for s in results["sims"]) + " |",
              "|---|" + "---|" * len(results["sims"])]
    for checkpoint in results["checkpoints"]:
        cells = []
        for sims in results["sims"]:
            player = by_name.get(f"{checkpoint['label']}:{sims}")
            cells.append("n/a" if player is None or player["elo"] is None
                         else f"{player['elo']:.0f} [{player['low']:.0f}, {player['high']:.0f}]")
        lines.append(f"| {checkpoint['label']} | " + " | ".join(cells) + " |")
    anchors = [by_name[name] for name in results["anchors"]]
    anchor_text = [f"{a['name']} {_elo_text({'value': a['elo'], 'low': a['low'], 'high': a['high']})}"
                   for a in anchors]
    lines += ["", "Anchors: " + ", ".join(anchor_text) + ".", ""]
    measured = {}
    for player in results["players"]:
        if player["kind"] == "agent" and player.get("measured_evals_per_move") is not None:
            measured.setdefault(player["sims"], []).append(player["measured_evals_per_move"])
    lines += ["Test cost, network evaluations per move: " + ", ".join(
        f"{'policy' if s == 0 else f'{s} sims'} {s + 1}"
        + (f" (measured {sum(measured[s]) / len(measured[s]):.2f})" if s in measured else "") for s in results["sims"])
        + ".", ""]
    lines += ["## Games and precision", "",
              f"{totals['games']} games over {schedule['pairs_played']} of {schedule['candidate_pairs']} candidate "
              f"pairings ({per_pair.get('min')} to {per_pair.get('max')} games each, "
              f"median {per_pair.get('median', 0):g}): {schedule['seed_games_per_pair']} for each of the "
              f"{schedule['seed_pairs']} first pairings, then rounds of "
              f"{schedule['chunk']} games where the widest intervals shrink most; stopped by {schedule['stopped_by']}. "
              f"Agents' 95% half-widths: median ±{precision['agent_half_width_median']} Elo, widest "
              f"±{precision['agent_half_width_max']}. Play took {totals['play_seconds_all_sessions'] / 60:.1f} min "
              f"on {totals['workers']} worker(s) ({totals['cached_games']} games came from the cache this time).", ""]
    return "\n".join(lines)


def _doublings_text(estimate: dict) -> str:
    unbounded = estimate.get("unbounded") or {}

    def end(name: str) -> str:
        if name in unbounded:
            return "∞" if unbounded[name] == "+" else "-∞"
        value = estimate.get(name)
        return "n/a" if value is None else f"{value:.2f}"

    return f"{end('value')} [{end('low')}, {end('high')}]"


def write_outputs(results: dict, out_dir: Path) -> dict[str, Path]:
    """tradeoff.json, the two plots and report.md in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"results": out_dir / "tradeoff.json", "elo_plot": out_dir / ELO_PLOT,
               "frontier_plot": out_dir / FRONTIER_PLOT, "report": out_dir / REPORT_FILE}
    written["results"].write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    plot_elo_by_training(results, written["elo_plot"])
    plot_frontier(results, written["frontier_plot"])
    written["report"].write_text(render_markdown(results))
    return written

