"""Write an ablation's results: report.md, results.json, PNG plots and TensorBoard scalars.

Everything here reads one plain ``results`` dict (built by `selfplay.ablation`, the same
object that goes to results.json), so the report can never show a number the JSON lacks.
Plots use matplotlib's Agg backend (no display needed). Keys of ``results`` used here:

- ``game``, ``command``, ``seed``, ``games_per_match``, ``presets`` ({policy_only, shallow,
  deep} -> sims), ``checkpoints`` [{label, path, step}], ``roots``, ``sims``;
- ``players`` [{name, kind: agent|baseline, checkpoint, sims, root}];
- ``matches`` [{a, b, games, a_wins, draws, b_wins}];
- ``elo`` (`EloTable.as_dict`), ``elo_per_doubling`` [{checkpoint, root, value, low, high}],
  ``learned_minus_rules`` [{checkpoint, root, rules_root, sims, value, low, high}];
- ``move_cost`` {player: {moves, ms_per_move, network_evals_per_move}};
- ``accuracy`` {kind: tictactoe|connect_four|none, rows: [{checkpoint, root, sims, ...}],
  baselines}; ``fidelity`` {checkpoint label: `FidelityByDepth.as_dict`}.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

PLOT_FILES = {
    "elo": "elo_vs_sims.png",
    "accuracy": "accuracy_vs_sims.png",
    "fidelity": "fidelity_vs_depth.png",
    "elo_by_step": "elo_by_step.png",
}


def _fmt(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}{suffix}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _sims_x(sims: int) -> float:
    """Where a simulation count sits on the log axis: 0 (policy-only) goes half a doubling left of 1."""
    return 0.5 if sims == 0 else float(sims)


def _agent_players(results: dict) -> list[dict]:
    return [player for player in results["players"] if player["kind"] == "agent"]


def _ladders(results: dict) -> dict[tuple[str, str], list[dict]]:
    """(checkpoint label, root) -> agent players by increasing sims (the policy-only one in every ladder)."""
    ladders: dict[tuple[str, str], list[dict]] = {}
    for checkpoint in results["checkpoints"]:
        for root in results["roots"]:
            rungs = [p for p in _agent_players(results)
                     if p["checkpoint"] == checkpoint["label"] and (p["root"] == root or p["sims"] == 0)]
            ladders[(checkpoint["label"], root)] = sorted(rungs, key=lambda p: p["sims"])
    return ladders


# --- plots -------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_elo(results: dict, path: Path) -> None:
    """Elo against simulations (log x, policy-only at the left), interval bars, a line per root and checkpoint."""
    plt = _pyplot()
    elo = results["elo"]["players"]
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    for (label, root), rungs in _ladders(results).items():
        rungs = [p for p in rungs if elo[p["name"]]["elo"] is not None]
        if not rungs:
            continue
        xs = [_sims_x(p["sims"]) for p in rungs]
        ys = [elo[p["name"]]["elo"] for p in rungs]
        lows = [y - (elo[p["name"]]["low"] if elo[p["name"]]["low"] is not None else y) for p, y in zip(rungs, ys)]
        highs = [(elo[p["name"]]["high"] if elo[p["name"]]["high"] is not None else y) - y for p, y in zip(rungs, ys)]
        tag = root if len(results["checkpoints"]) == 1 else f"{label} {root}"
        axes.errorbar(xs, ys, yerr=[lows, highs], marker="o", capsize=3, label=tag)
    for player in results["players"]:
        if player["kind"] == "baseline" and elo[player["name"]]["elo"] is not None:
            axes.axhline(elo[player["name"]]["elo"], color="grey", linestyle=":", linewidth=1)
            axes.annotate(player["name"], (1.0, elo[player["name"]]["elo"]), xycoords=("axes fraction", "data"),
                          fontsize=7, color="grey", ha="right", va="bottom")
    axes.set_xscale("log", base=2)
    ticks = sorted({_sims_x(s) for s in results["sims"]})
    axes.set_xticks(ticks)
    axes.set_xticklabels(["0 (policy)" if t == 0.5 else str(int(t)) for t in ticks], fontsize=8)
    axes.set_xlabel("simulations per move (log scale)")
    axes.set_ylabel(f"Elo ({results['elo']['anchor']} = 0), 95% bootstrap interval")
    axes.set_title(f"{results['game']}: Elo against search simulations")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_accuracy(results: dict, path: Path) -> bool:
    """Accuracy against simulations; False (no file) where the game has no perfect-play data."""
    accuracy = results.get("accuracy") or {}
    if accuracy.get("kind") not in ("tictactoe", "connect_four") or not accuracy.get("rows"):
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in accuracy["rows"]:
        groups.setdefault((row["checkpoint"], row["root"]), []).append(row)
    multi = len(results["checkpoints"]) > 1
    for (label, root), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["sims"])
        xs = [_sims_x(r["sims"]) for r in rows]
        tag = root if not multi else f"{label} {root}"
        if accuracy["kind"] == "tictactoe":
            axes.plot(xs, [100 * r["optimal_rate"] for r in rows], marker="o", label=tag)
        else:
            for index, set_result in enumerate(rows[0]["sets"]):
                axes.plot(xs, [100 * r["sets"][index]["mistake_rate"] for r in rows], marker="o",
                          label=f"{tag} {set_result['title']}")
    if accuracy["kind"] == "tictactoe":
        axes.set_ylabel("optimal moves over all 4,520 positions (%)")
        baseline = accuracy.get("baselines", {}).get("random_optimal_rate")
        if baseline is not None:
            axes.axhline(100 * baseline, color="grey", linestyle=":", label="uniform random")
    else:
        axes.set_ylabel("mistake rate on Pons' sets (%)")
    axes.set_xscale("log", base=2)
    ticks = sorted({_sims_x(r["sims"]) for r in accuracy["rows"]})
    axes.set_xticks(ticks)
    axes.set_xticklabels(["0 (policy)" if t == 0.5 else str(int(t)) for t in ticks], fontsize=8)
    axes.set_xlabel("simulations per move (log scale)")
    axes.set_title(f"{results['game']}: accuracy against perfect play")
    return _save_plot(plt, figure, axes, path)


def plot_fidelity(results: dict, path: Path) -> bool:
    """Policy KL, value error and illegal prior mass against unroll depth, a line per checkpoint."""
    fidelity = results.get("fidelity") or {}
    if not fidelity:
        return False
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    metrics = (("policy_kl", "policy KL (real || imagined)"), ("value_abs_error", "|value error|"),
               ("illegal_mass", "prior mass on illegal moves"))
    for label, table in fidelity.items():
        for axis, (key, title) in zip(axes, metrics):
            points = [(d, v, s) for d, v, s in zip(table["depths"], table[key], table[key + "_sem"]) if v is not None]
            if points:
                axis.errorbar([p[0] for p in points], [p[1] for p in points],
                              yerr=[p[2] or 0.0 for p in points], marker="o", capsize=2, label=label)
    for axis, (_, title) in zip(axes, metrics):
        axis.set_xlabel("unroll depth k")
        axis.set_title(title, fontsize=9)
        axis.grid(True, alpha=0.3)
    if len(fidelity) > 1:
        axes[0].legend(fontsize=7)
    figure.suptitle(f"{results['game']}: learned-model fidelity by depth", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def plot_elo_by_step(results: dict, path: Path) -> bool:
    """Elo against training step, a line per (root, sims): train-time against test-time compute."""
    if len({c["step"] for c in results["checkpoints"]}) < 2:
        return False
    plt = _pyplot()
    elo = results["elo"]["players"]
    steps = {c["label"]: c["step"] for c in results["checkpoints"]}
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    lines: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for player in _agent_players(results):
        if elo[player["name"]]["elo"] is None:
            continue
        root = "policy" if player["sims"] == 0 else player["root"]
        lines.setdefault((root, player["sims"]), []).append((steps[player["checkpoint"]], elo[player["name"]]["elo"]))
    for (root, sims), points in sorted(lines.items(), key=lambda item: (item[0][1], item[0][0])):
        points.sort()
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                  label="policy-only" if sims == 0 else f"{root} {sims} sims")
    axes.set_xlabel("training step")
    axes.set_ylabel(f"Elo ({results['elo']['anchor']} = 0)")
    axes.set_title(f"{results['game']}: Elo by training step and simulations")
    return _save_plot(plt, figure, axes, path)


# --- report.md ---------------------------------------------------------------------------------------


def _match_score(results: dict, a: str, b: str) -> tuple[float, int, int, int, int] | None:
    """(score share of a, wins, draws, losses, games) of a against b over all their games."""
    wins = draws = losses = 0
    for match in results["matches"]:
        if match["a"] == a and match["b"] == b:
            wins, draws, losses = wins + match["a_wins"], draws + match["draws"], losses + match["b_wins"]
        elif match["a"] == b and match["b"] == a:
            wins, draws, losses = wins + match["b_wins"], draws + match["draws"], losses + match["a_wins"]
    games = wins + draws + losses
    if games == 0:
        return None
    return (wins + 0.5 * draws) / games, wins, draws, losses, games


def _preset_players(results: dict) -> list[tuple[str, dict]]:
    """(title, player) of policy-only, shallow and deep for every checkpoint and root."""
    presets = results["presets"]
    chosen = []
    for checkpoint in results["checkpoints"]:
        for root in results["roots"]:
            for key, title in (("policy_only", "policy-only"), ("shallow", "shallow"), ("deep", "deep")):
                sims = presets[key]
                for player in _agent_players(results):
                    if (player["checkpoint"] == checkpoint["label"] and player["sims"] == sims
                            and (sims == 0 or player["root"] == root)):
                        if sims == 0 and any(p is player for _, p in chosen):
                            continue
                        prefix = "" if len(results["checkpoints"]) == 1 else f"{checkpoint['label']} "
                        chosen.append((f"{prefix}{title} ({'' if sims == 0 else root + ', '}{sims} sims)", player))
    return chosen


def _missing_presets(results: dict) -> list[str]:
    return [name for name, sims in results["presets"].items() if sims not in results["sims"]]


def render_markdown(results: dict, plots: dict[str, str]) -> str:
    """The whole report.md text."""
    elo = results["elo"]["players"]
    baselines = [p["name"] for p in results["players"] if p["kind"] == "baseline"]
    lines = [
        f"# Ablation: what search adds on top of the network ({results['game']})",
        "",
        f"Command: `{results['command']}`",
        "",
        "Checkpoints: " + ", ".join(f"`{c['label']}` (step {c['step']}, `{c['path']}`)" for c in results["checkpoints"])
        + f"; roots: {', '.join(results['roots'])}; simulations: {', '.join(map(str, results['sims']))}; "
        f"{results['games_per_match']} games per match in pairs from {results.get('opening_plies', 0)}-ply "
        "random openings, colours swapped within a pair; "
        f"seed {results['seed']}; "
        f"{results['totals']['games']} games in all ({results['totals']['cached_games']} from the cache); "
        f"this invocation took {results['totals']['seconds']:.0f} s for new games and measurements on "
        f"{results['totals']['workers']} worker process(es).",
        "",
        "## Policy-only vs shallow vs deep search against each opponent",
        "",
        "Score of the agent (win 1, draw 1/2) with wins-draws-losses. Presets: policy-only = 0, "
        f"shallow = {results['presets']['shallow']}, deep = {results['presets']['deep']} simulations"
        + ("" if not _missing_presets(results) else
           f" ({', '.join(_missing_presets(results))} not in the ladder, so not shown)") + ".",
        "",
        "| agent | " + " | ".join(baselines) + " | Elo [95% interval] |",
        "|---|" + "---|" * len(baselines) + "---|",
    ]
    for title, player in _preset_players(results):
        cells = []
        for opponent in baselines:
            score = _match_score(results, player["name"], opponent)
            cells.append("-" if score is None else f"{100 * score[0]:.0f}% ({score[1]}-{score[2]}-{score[3]})")
        entry = elo[player["name"]]
        lines.append(f"| {title} | " + " | ".join(cells)
                     + f" | {_fmt(entry['elo'])} [{_fmt(entry['low'])}, {_fmt(entry['high'])}] |")
    lines += [
        "",
        "## Elo ladder",
        "",
        f"Bradley-Terry maximum likelihood over all {results['totals']['games']} games, draws as half, "
        f"`{results['elo']['anchor']}` = 0; 95% intervals from {results['elo']['bootstrap_replicates']} "
        f"bootstrap replicates over games (resampled within each pairing). Each played pairing adds "
        f"{results['elo']['prior_draws']:g} virtual draw so that an unbeaten record has a finite rating. "
        "ms and network evaluations are per move made by that player.",
        "",
        "| player | Elo | 95% interval | games | score | ms / move | network evals / move |",
        "|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(elo.items(), key=lambda item: -(item[1]["elo"] if item[1]["elo"] is not None else -1e9))
    for name, entry in ranked:
        cost = results["move_cost"].get(name, {})
        share = entry["score"] / entry["games"] if entry["games"] else None
        lines.append(f"| `{name}` | {_fmt(entry['elo'])} | [{_fmt(entry['low'])}, {_fmt(entry['high'])}] | "
                     f"{entry['games']} | {_pct(share)} | {_fmt(cost.get('ms_per_move'), 2)} | "
                     f"{_fmt(cost.get('network_evals_per_move'), 1)} |")
    lines += ["", "### Elo per doubling of simulations", "",
              "Least-squares slope of Elo against log2(sims) over the ladder from 1 simulation up "
              "(policy-only excluded), with its bootstrap interval.", "",
              "| checkpoint | root | Elo per doubling | 95% interval |", "|---|---|---|---|"]
    for row in results["elo_per_doubling"]:
        lines.append(f"| {row['checkpoint']} | {row['root']} | {_fmt(row['value'])} | "
                     f"[{_fmt(row['low'])}, {_fmt(row['high'])}] |")
    lines += ["", f"![Elo against simulations]({plots['elo']})", ""]
    lines += _model_cost_section(results)
    if "elo_by_step" in plots:
        lines += ["## Elo by training step and simulations", "",
                  "| step | " + " | ".join(("policy-only" if s == 0 else f"{r} {s}") for r, s in _step_columns(results))
                  + " |", "|---|" + "---|" * len(_step_columns(results))]
        for checkpoint in results["checkpoints"]:
            cells = []
            for root, sims in _step_columns(results):
                match = [p for p in _agent_players(results) if p["checkpoint"] == checkpoint["label"]
                         and p["sims"] == sims and (sims == 0 or p["root"] == root)]
                cells.append(_fmt(elo[match[0]["name"]]["elo"]) if match else "-")
            lines.append(f"| {checkpoint['step']} | " + " | ".join(cells) + " |")
        lines += ["", f"![Elo by training step]({plots['elo_by_step']})", ""]
    lines += _accuracy_section(results, plots)
    lines += _fidelity_section(results, plots)
    return "\n".join(lines) + "\n"


def _step_columns(results: dict) -> list[tuple[str, int]]:
    columns = [("policy", 0)] if 0 in results["sims"] else []
    return columns + [(root, sims) for root in results["roots"] for sims in results["sims"] if sims > 0]


def _accuracy_section(results: dict, plots: dict[str, str]) -> list[str]:
    accuracy = results.get("accuracy") or {}
    lines = ["## Accuracy against perfect play", ""]
    if accuracy.get("kind") == "tictactoe":
        baseline = accuracy["baselines"]["random_optimal_rate"]
        lines += [f"Share of optimal moves (keeping the game-theoretic value) over all "
                  f"{accuracy['positions']} reachable non-terminal tic-tac-toe positions. "
                  f"A uniformly random legal move is optimal {_pct(baseline)} of the time (exact expectation).",
                  "", "| checkpoint | root | sims | optimal moves |", "|---|---|---|---|"]
        for row in accuracy["rows"]:
            lines.append(f"| {row['checkpoint']} | {row['root']} | {row['sims']} | {_pct(row['optimal_rate'])} |")
    elif accuracy.get("kind") == "connect_four":
        sets = accuracy["baselines"]["sets"]
        lines += ["Mistake rate (the chosen column's perfect-play outcome is worse than the best available; "
                  "the AlphaZero.jl metric) on Pascal Pons' benchmark sets, and in brackets the exact-optimal "
                  "rate where exact scores exist; the last column counts, over all sets, the mistakes that "
                  "hand the opponent a win in one (the blunder of a search blind to game ends inside its tree). "
                  "Rows sampled per set: "
                  + ", ".join(f"{s['title']} {s['positions']}" for s in accuracy["rows"][0]["sets"]) + ".",
                  "",
                  "| checkpoint | root | sims | " + " | ".join(s["title"] for s in sets) + " | allows a win in one |",
                  "|---|---|---|" + "---|" * len(sets) + "---|",
                  "| (uniform random) | | | " + " | ".join(_pct(s["random_mistake_rate"]) for s in sets) + " | |",
                  "| (win/block) | | | " + " | ".join(_pct(s["win_block_mistake_rate"]) for s in sets) + " | |"]
        for row in accuracy["rows"]:
            cells = [_pct(s["mistake_rate"]) + ("" if s["exact_optimal_rate"] is None
                                               else f" ({_pct(s['exact_optimal_rate'])})") for s in row["sets"]]
            counts = [s.get("allows_win") for s in row["sets"]]
            allows = "-" if None in counts else f"{sum(counts)} of {sum(s['positions'] for s in row['sets'])}"
            lines.append(f"| {row['checkpoint']} | {row['root']} | {row['sims']} | " + " | ".join(cells)
                         + f" | {allows} |")
    else:
        lines.append(f"No perfect-play data for {results['game']} (tic-tac-toe and Connect Four only).")
    if "accuracy" in plots:
        lines += ["", f"![Accuracy against simulations]({plots['accuracy']})"]
    return lines + [""]


def _model_cost_section(results: dict) -> list[str]:
    """Searching the learned model against the same network searching the rules, equal sims."""
    rows = results.get("learned_minus_rules") or []
    if not rows:
        return []
    lines = ["### What the learned model costs the search", "",
             "Elo of the search over the learned model minus that of the same network searching the real "
             "rules with the same simulations (the two play each other directly as well as the opponents), "
             "with the bootstrap interval of the difference: 0 means the learned model costs nothing.", "",
             "| checkpoint | root | sims | learned minus rules | 95% interval |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['checkpoint']} | {row['root']} vs {row['rules_root']} | {row['sims']} | "
                     f"{_fmt(row['value'])} | [{_fmt(row['low'])}, {_fmt(row['high'])}] |")
    return lines + [""]


def _ends_table(ends: list[dict]) -> list[str]:
    """Legality and game ends against the rules by depth (`selfplay.end_fidelity`)."""
    if not ends:
        return []
    def pair(entry: dict, name: str) -> str:
        return f"{_pct(entry.get(name + '_precision'))} / {_pct(entry.get(name + '_recall'))}"

    lines = ["Legal moves and game ends against the rules, over every legal action of the same positions: "
             "the action heads as the search reads them (where the network has them), and wins as the reward "
             "head sees them (reward above 0.5). Precision / recall.", "",
             "| k | legal accuracy (heads) | wins (heads) | game ends (heads) | wins (reward head) "
             "| wins (end detector) | game ends (end detector) |",
             "|---|---|---|---|---|---|---|"]
    for depth, entry in enumerate(ends):
        lines.append(f"| {depth} | {_pct(entry.get('legal_accuracy'))} | {pair(entry, 'win')} | {pair(entry, 'end')} "
                     f"| {pair(entry, 'reward_win')} | {pair(entry, 'detector_win')} | {pair(entry, 'detector_end')} |")
    return lines + [""]


def _fidelity_section(results: dict, plots: dict[str, str]) -> list[str]:
    fidelity = results.get("fidelity") or {}
    lines = ["## Learned-model fidelity by unroll depth", ""]
    if not fidelity:
        return lines + ["Not measured.", ""]
    lines += ["Along real games (the network's policy-only play against random moves), the dynamics g are "
              "unrolled k steps on the real actions and f of the imagined state is compared with f(h(real "
              "position k plies later)). Depth 0 is the real prior itself. Means over (position, k) pairs, "
              "standard error in brackets. For a board model, boards exact is the share of g's predicted "
              "boards equal to the real ones.", ""]
    for label, table in fidelity.items():
        if len(fidelity) > 1:
            lines += [f"**{label}** ({table['games']} games)", ""]
        boards = table.get("boards_exact") or []
        lines += ["| k | pairs |" + (" boards exact |" if boards else "") + " policy KL | value abs error "
                  "| illegal prior mass |", "|---|---|" + ("---|" if boards else "") + "---|---|---|"]
        for i, depth in enumerate(table["depths"]):
            exact = f" {_pct(boards[i])} |" if boards else ""
            lines.append(f"| {depth} | {table['pairs'][i]} |{exact} {_fmt(table['policy_kl'][i], 4)} "
                         f"({_fmt(table['policy_kl_sem'][i], 4)}) | {_fmt(table['value_abs_error'][i], 3)} "
                         f"({_fmt(table['value_abs_error_sem'][i], 3)}) | {_pct(table['illegal_mass'][i])} |")
        lines.append("")
        lines += _ends_table(table.get("ends") or [])
    if "fidelity" in plots:
        lines += [f"![Fidelity against depth]({plots['fidelity']})", ""]
    return lines


# --- TensorBoard -------------------------------------------------------------------------------------


def write_tensorboard(results: dict, log_dir: Path) -> None:
    """Scalars: Elo by sims (a tag per checkpoint and root), accuracy by sims, fidelity by depth, Elo by step."""
    from torch.utils.tensorboard import SummaryWriter

    elo = results["elo"]["players"]
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        for (label, root), rungs in _ladders(results).items():
            for player in rungs:
                if elo[player["name"]]["elo"] is not None:
                    writer.add_scalar(f"ablation/elo_by_sims/{label}/{root}", elo[player["name"]]["elo"], player["sims"])
        steps = {c["label"]: c["step"] for c in results["checkpoints"]}
        for player in _agent_players(results):
            if elo[player["name"]]["elo"] is not None:
                root = "policy" if player["sims"] == 0 else player["root"]
                writer.add_scalar(f"ablation/elo_by_step/{root}_{player['sims']}", elo[player["name"]]["elo"],
                                  steps[player["checkpoint"]])
        accuracy = results.get("accuracy") or {}
        for row in accuracy.get("rows", []):
            tag = f"{row['checkpoint']}/{row['root']}"
            if accuracy["kind"] == "tictactoe":
                writer.add_scalar(f"ablation/optimal_rate/{tag}", row["optimal_rate"], row["sims"])
            else:
                for set_result in row["sets"]:
                    writer.add_scalar(f"ablation/mistake_rate/{set_result['title']}/{tag}",
                                      set_result["mistake_rate"], row["sims"])
        for label, table in (results.get("fidelity") or {}).items():
            for key in ("policy_kl", "value_abs_error", "illegal_mass"):
                for depth, value in zip(table["depths"], table[key]):
                    if value is not None:
                        writer.add_scalar(f"ablation/fidelity/{key}/{label}", value, depth)


def write_outputs(results: dict, out_dir: Path, *, tensorboard: bool = True) -> dict[str, Path]:
    """Write results.json, the PNGs, report.md and (optionally) TensorBoard scalars into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plots: dict[str, str] = {}
    plot_elo(results, out_dir / PLOT_FILES["elo"])
    plots["elo"] = PLOT_FILES["elo"]
    if plot_accuracy(results, out_dir / PLOT_FILES["accuracy"]):
        plots["accuracy"] = PLOT_FILES["accuracy"]
    if plot_fidelity(results, out_dir / PLOT_FILES["fidelity"]):
        plots["fidelity"] = PLOT_FILES["fidelity"]
    if plot_elo_by_step(results, out_dir / PLOT_FILES["elo_by_step"]):
        plots["elo_by_step"] = PLOT_FILES["elo_by_step"]
    for key, name in plots.items():
        written[key] = out_dir / name
    results = dict(results, plots=plots)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    written["results"] = json_path
    report_path = out_dir / "report.md"
    report_path.write_text(render_markdown(results, plots))
    written["report"] = report_path
    if tensorboard:
        write_tensorboard(results, out_dir / "tb")
        written["tensorboard"] = out_dir / "tb"
    return written


def _save_plot(plt, figure, axes, path) -> bool:
    """Grid, legend, tight layout, save as PNG and close: the common end of every plot."""
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
