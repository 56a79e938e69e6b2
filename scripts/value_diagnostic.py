"""How well does a Connect Four network's value head know who is winning? (Pons' labelled sets)

Search can only add strength on top of a value head that ranks positions: this compares the
network's value of each Pons position (one initial inference, no search) with its
perfect-play value (best column's outcome for the player to move: 1 win, 0 draw, -1 loss).
Per set: Pearson correlation, the share of decided positions whose sign is right, the mean
squared error, and the share of drawn positions.

With ``--replay RUN_DIR`` it also says where the run's training positions lie by the same
stages as Pons' sets (stones on the board: Beginning <= 14, Middle 15-28, End > 28), since a
value head cannot know positions its self-play never reaches, and how often the actor played
a move other than its search's most-visited one (temperature sampling), by move number: each
such move is a likely blunder that decides the game, and so blurs the outcome every earlier
position of that game is trained towards.

    python scripts/value_diagnostic.py CHECKPOINT [CHECKPOINT ...] [--replay RUN_DIR] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def load_connect_four_agent(path: Path):
    """The agent of a Connect Four checkpoint; UsageError (one line) for a bad file or another game."""
    from agent.agent import Agent
    from envs.errors import UsageError

    agent = Agent.load(path)
    if agent.game.name != "connect_four":
        raise UsageError(f"{path} is a {agent.game.name} checkpoint, not connect_four")
    return agent


def emit_table(lines: list[str], markdown: Path | None) -> None:
    """Print a markdown table and, when asked, write it to ``markdown`` too."""
    table = "\n".join(lines) + "\n"
    print(table)
    if markdown:
        markdown.write_text(table)


def value_agreement(network, game, pons_set) -> dict[str, float]:
    """Correlation, sign agreement on decided positions, MSE and draw share for one set."""
    import torch

    states = [game.state_from_actions(moves) for moves in pons_set.moves]
    planes = torch.from_numpy(np.stack([state.planes() for state in states]))
    with torch.no_grad():
        _, _, values = network.initial(planes)
    predicted = values.float().numpy().reshape(-1)
    perfect = np.nanmax(pons_set.outcomes, axis=1)
    decided = perfect != 0
    return {
        "correlation": float(np.corrcoef(predicted, perfect)[0, 1]),
        "sign_right": float(np.mean(np.sign(predicted[decided]) == perfect[decided])),
        "mse": float(np.mean((predicted - perfect) ** 2)),
        "draws": float(np.mean(~decided)),
    }


def replay_stages(run_dir: Path) -> dict[str, float]:
    """Share of a run's stored training positions by stones on the board (Pons' stages)."""
    with np.load(run_dir / "replay" / "games.npz", allow_pickle=False) as data:
        lengths, openings = data["lengths"], data["opening_lengths"]
    stones = np.concatenate([np.arange(start, start + length) for start, length in zip(openings, lengths)])
    return {"positions": float(stones.size), "games": float(lengths.size),
            "mean game length": float(np.mean(lengths + openings)),
            "Beginning (<= 14)": float(np.mean(stones <= 14)),
            "Middle (15-28)": float(np.mean((stones >= 15) & (stones <= 28))),
            "End (> 28)": float(np.mean(stones > 28))}


MOVE_BANDS = ((0, 4), (4, 8), (8, 12), (12, 20), (20, 42))


def replay_move_choice(run_dir: Path, bands=MOVE_BANDS) -> list[tuple[str, float, float]]:
    """Per band of the actor's move number (random opening moves not counted): the share of
    moves that were not the stored search policy's top move, and that top move's mean share."""
    with np.load(run_dir / "replay" / "games.npz", allow_pickle=False) as data:
        lengths, actions, policies = data["lengths"], data["actions"], data["policies"]
    move_number = np.concatenate([np.arange(length) for length in lengths])
    top_share = policies.max(axis=1)
    not_top = policies[np.arange(actions.size), actions] < top_share - 1e-6
    rows = []
    for first, end in bands:
        band = (move_number >= first) & (move_number < end)
        if band.any():
            rows.append((f"{first + 1}-{end}", float(np.mean(not_top[band])), float(np.mean(top_share[band]))))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--replay", type=Path, metavar="RUN_DIR", help="also the stages of this run's replay")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()

    import torch

    from envs.errors import UsageError
    from selfplay.accuracy import load_pons_sets

    torch.set_num_threads(1)
    sets = load_pons_sets()
    lines = ["Value head against perfect play: correlation / sign right on decided positions / MSE "
             "(positions per set in the header; one initial inference each, no search).", "",
             "| checkpoint | step | " + " | ".join(f"{s.title} ({len(s)}, {100 * np.mean(np.nanmax(s.outcomes, axis=1) == 0):.0f}% drawn)"
                                                     for s in sets) + " |",
             "|---|---|" + "---|" * len(sets)]
    for path in args.checkpoints:
        try:
            agent = load_connect_four_agent(path)
        except UsageError as error:
            print(f"value_diagnostic: {error}", file=sys.stderr)
            return 2
        network = agent.network.eval()
        cells = []
        for pons_set in sets:
            result = value_agreement(network, agent.game, pons_set)
            cells.append(f"{result['correlation']:.2f} / {result['sign_right']:.0%} / {result['mse']:.2f}")
        lines.append(f"| `{path}` | {agent.checkpoint_step} | " + " | ".join(cells) + " |")
    if args.replay is not None:
        if not (args.replay / "replay" / "games.npz").exists():
            print(f"value_diagnostic: {args.replay} has no replay/games.npz", file=sys.stderr)
            return 2
        stages = replay_stages(args.replay)
        lines += ["", f"Training positions in `{args.replay}/replay` ({stages.pop('positions'):,.0f} positions, "
                  f"{stages.pop('games'):,.0f} games, mean length {stages.pop('mean game length'):.1f} plies):", "",
                  "| " + " | ".join(stages) + " |", "|" + "---|" * len(stages),
                  "| " + " | ".join(f"{share:.1%}" for share in stages.values()) + " |"]
        choices = replay_move_choice(args.replay)
        lines += ["", "Moves the actor played that were not its search's most-visited move (temperature "
                  "sampling), by its move number:", "",
                  "| moves | " + " | ".join(band for band, _, _ in choices) + " |", "|---|" + "---|" * len(choices),
                  "| not the top move | " + " | ".join(f"{share:.0%}" for _, share, _ in choices) + " |",
                  "| top move's visit share | " + " | ".join(f"{top:.0%}" for _, _, top in choices) + " |"]
    emit_table(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
