"""The ablation's answer in the terminal: one short table and the sentence that reads it.

`ponder ablate` writes a full report (`selfplay.report`); a user at the terminal wants the
answer first: for each root, policy-only, shallow and deep search with their Elo and 95%
interval, the accuracy against perfect play where it exists (tic-tac-toe's optimal-move
share, Connect Four's Pons mistake rates), Elo per doubling of simulations, what the learned
model costs against the same network searching the rules, and one sentence that says what
search adds here. Built from ``results.json`` alone, so it can be printed again later
(`render_summary(json.load(...))`).
"""
from __future__ import annotations

import math
from typing import Any

PERFECT_SHARE = 0.99   # a network this close to perfect play leaves search little to add


def _number(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _interval(entry: dict) -> str:
    return f"{_number(entry.get('value', entry.get('elo')))} [{_number(entry.get('low'))}, {_number(entry.get('high'))}]"


def _accuracy_by_player(results: dict) -> tuple[list[str], dict[tuple, list[str]]]:
    """(column titles, {(checkpoint, root, sims): cells}) of the accuracy rows."""
    accuracy = results.get("accuracy") or {}
    cells: dict[tuple, list[str]] = {}
    if accuracy.get("kind") == "tictactoe":
        for row in accuracy["rows"]:
            cells[(row["checkpoint"], row["root"], row["sims"])] = [f"{100 * row['optimal_rate']:.1f}%"]
        return ["optimal moves"], cells
    if accuracy.get("kind") == "connect_four" and accuracy["rows"]:
        wanted = ("Beginning-Hard", "Middle-Medium", "End-Easy")
        for row in accuracy["rows"]:
            by_title = {entry["title"]: entry for entry in row["sets"]}
            cells[(row["checkpoint"], row["root"], row["sims"])] = [
                f"{100 * by_title[title]['mistake_rate']:.1f}%" if title in by_title else "-" for title in wanted]
        return ["Pons B-Hard", "Pons M-Medium", "Pons E-Easy"], cells
    return [], cells


def _rows(results: dict) -> list[tuple[str, dict]]:
    """(label, player) for policy-only, then shallow and deep of every root (last checkpoint)."""
    presets = results["presets"]
    checkpoint = results["checkpoints"][-1]["label"]
    agents = [p for p in results["players"] if p["kind"] == "agent" and p["checkpoint"] == checkpoint]
    rows = [("policy-only", p) for p in agents if p["sims"] == 0][:1]
    for root in results["roots"]:
        for key in ("shallow", "deep"):
            sims = presets[key]
            for player in agents:
                if player["root"] == root and player["sims"] == sims and sims > 0:
                    rows.append((f"{key}: {root} {sims}", player))
    return rows


def summary_sentence(results: dict) -> str:
    """What search adds here, in one sentence read off the results."""
    game = results["game"].replace("_", " ").title().replace("Tictactoe", "tic-tac-toe")
    accuracy = results.get("accuracy") or {}
    policy_rows = [row for row in accuracy.get("rows", []) if row["sims"] == 0]
    if accuracy.get("kind") == "tictactoe" and policy_rows and policy_rows[-1]["optimal_rate"] >= PERFECT_SHARE:
        return (f"On {game} the network alone already plays {100 * policy_rows[-1]['optimal_rate']:.1f}% optimal "
                f"moves: search has next to nothing to add.")
    learned = [row for row in results.get("elo_per_doubling", []) if "+rules" not in row["root"]]
    chosen = (learned or results.get("elo_per_doubling") or [None])[0]
    if chosen is None or chosen.get("value") is None:
        return f"On {game} the ladder is too short to measure what search adds."
    sentence = (f"On {game} search adds {_number(chosen['value'])} Elo per doubling of simulations "
                f"({chosen['root']}, 95% interval {_number(chosen['low'])} to {_number(chosen['high'])})")
    costs = [row for row in results.get("learned_minus_rules", []) if row["root"] == chosen["root"]]
    if costs:
        deepest = max(costs, key=lambda row: row["sims"])
        sentence += (f"; at {deepest['sims']} simulations its learned model plays {_number(deepest['value'])} Elo "
                     f"against the same network searching the real rules [{_number(deepest['low'])}, "
                     f"{_number(deepest['high'])}]")
    return sentence + "."


def render_summary(results: dict) -> "Any":
    """A rich renderable: the table, the per-doubling and learned-model lines, the sentence."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    elo = results["elo"]["players"]
    accuracy_titles, accuracy_cells = _accuracy_by_player(results)
    table = Table(title=f"{results['game']}: what search adds ({results['games_per_match']} games per pairing)",
                  title_justify="left", caption="Pons: mistake rates on Pascal Pons' Beginning-Hard, Middle-Medium "
                  "and End-Easy sets" if accuracy_titles and accuracy_titles[0].startswith("Pons") else None,
                  caption_justify="left")
    table.add_column("agent")
    table.add_column("Elo [95%]", justify="right")
    for title in accuracy_titles:
        table.add_column(title, justify="right")
    for label, player in _rows(results):
        key = (player["checkpoint"], player["root"] if player["sims"] else "policy", player["sims"])
        cells = accuracy_cells.get(key) or accuracy_cells.get((player["checkpoint"], player["root"], player["sims"]))
        table.add_row(label, _interval(elo[player["name"]]), *(cells or ["-"] * len(accuracy_titles)))
    lines = [f"Elo per doubling ({row['root']}): {_interval(row)}" for row in results.get("elo_per_doubling", [])]
    lines += [f"learned model minus rules ({row['root']}, {row['sims']} sims): {_interval(row)} Elo"
              for row in results.get("learned_minus_rules", [])]
    return Group(table, Text("\n".join(lines)), Text(summary_sentence(results), style="bold"))


def print_summary(results: dict, file=None) -> None:
    """Print `render_summary` to ``file`` (stdout by default)."""
    from rich.console import Console

    Console(file=file, soft_wrap=True).print(render_summary(results))
