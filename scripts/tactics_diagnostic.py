"""Does a Connect Four agent take a win in one, and block the opponent's? (Pons' positions)

The 2-hour agent errs on Pons' End-Easy set about twice as often as the one-ply win/block
rule (docs/notebook.md). A search over the true rules finds a win in one from the game's
terminal state; a search over the learned model only finds it if the reward head flags the
winning move. Two kinds of positions:

- **win now**: the player to move has a winning column. Pons' sets hold none (his positions
  are never won in one), so these come from seeded uniformly random games (``--seed``);
- **must block**: no winning column, and the opponent threatens one next move: every such
  position of Pons' six sets.

and for each checkpoint reports how often the agent plays a winning (blocking) column at each
simulation count, with the deterministic evaluation search of `ponder arena`, and what the
reward head predicts for the winning column against the best-predicted other column.

    python scripts/tactics_diagnostic.py CHECKPOINT [CHECKPOINT ...] [--sims 0,8,200] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TacticalPositions:
    """Positions with a win in one (and their winning columns), and positions that must block."""
    win_now: list
    winning: list[set[int]]
    must_block: list
    blocking: list[set[int]]


def random_game_positions(game, count: int, seed: int) -> list:
    """Positions that can win at once, from seeded uniformly random games played to the end
    until at least ``count`` are found (the last game's are all kept)."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        state = game.initial_state()
        while not state.is_terminal():
            if state.winning_actions():
                found.append(state)
            state = state.play(int(rng.choice(state.legal_actions())))
    return found


def tactical_positions(states) -> TacticalPositions:
    """Sort non-terminal positions into win-now and must-block ones (others are dropped)."""
    win_now, winning, must_block, blocking = [], [], [], []
    for state in states:
        if state.is_terminal():
            continue
        wins = state.winning_actions()
        if wins:
            win_now.append(state)
            winning.append(set(wins))
            continue
        threats = state.threat_actions()
        if threats:
            must_block.append(state)
            blocking.append(set(threats))
    return TacticalPositions(win_now, winning, must_block, blocking)


def hit_rate(actions, targets: list[set[int]]) -> float:
    """Share of positions whose chosen action is one of its target actions."""
    return float(np.mean([int(action) in target for action, target in zip(actions, targets)])) if targets else float("nan")


def reward_gap(network, states, winning: list[set[int]]) -> tuple[float, float]:
    """Mean predicted reward of the (first) winning column, and of the best other legal column."""
    import torch

    planes = torch.from_numpy(np.stack([state.planes() for state in states]))
    num_actions = len(states[0].legal_mask())
    with torch.no_grad():
        hidden, _, _ = network.initial(planes)
        rewards = np.stack([network.recurrent(hidden, torch.full((len(states),), action, dtype=torch.long))[1]
                            .float().numpy().reshape(-1) for action in range(num_actions)], axis=1)
    win_rewards, other_rewards = [], []
    for row, (state, wins) in enumerate(zip(states, winning)):
        win_rewards.append(rewards[row, min(wins)])
        others = [rewards[row, action] for action in state.legal_actions() if action not in wins]
        if others:
            other_rewards.append(max(others))
    return float(np.mean(win_rewards)), float(np.mean(other_rewards)) if other_rewards else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--sims", default="0,8,200", help="comma-separated simulation counts (0 = policy-only)")
    parser.add_argument("--win-positions", type=int, default=1000, help="win-now positions from random games")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()

    import torch

    from agent.player import evaluation_search
    from envs.errors import UsageError
    from envs.registry import get_game
    from scripts.value_diagnostic import emit_table, load_connect_four_agent
    from selfplay.matches import parse_sims_list
    from selfplay.accuracy import load_pons_sets

    torch.set_num_threads(1)
    try:
        sims_list = parse_sims_list(args.sims)
        agents = [(path, load_connect_four_agent(path)) for path in args.checkpoints]
    except UsageError as error:
        print(f"tactics_diagnostic: {error}", file=sys.stderr)
        return 2
    game = get_game("connect_four")
    pons = tactical_positions([game.state_from_actions(moves) for pons_set in load_pons_sets() for moves in pons_set.moves])
    wins = tactical_positions(random_game_positions(game, args.win_positions, args.seed))
    threatened = np.array([bool(state.threat_actions()) for state in wins.win_now])
    winning_under_threat = [targets for targets, threat in zip(wins.winning, threatened) if threat]
    lines = [f"Win in one ({len(wins.win_now)} positions from random games, seed {args.seed}) and forced blocks "
             f"({len(pons.must_block)} Pons positions): share of positions where the agent plays one (pUCT "
             "evaluation search; in brackets, the win-now positions where the opponent also threatens to win, "
             f"{int(threatened.sum())} of them), and the reward head's prediction for the winning column against "
             "the best other one.", "",
             "| checkpoint | step | " + " | ".join(f"wins, {sims} sims" for sims in sims_list) + " | "
             + " | ".join(f"blocks, {sims} sims" for sims in sims_list) + " | reward: winning / best other |",
             "|---|---|" + "---|" * (2 * len(sims_list) + 1)]
    for path, agent in agents:
        win_cells, block_cells = [], []
        for sims in sims_list:
            search = evaluation_search(sims, "puct", agent.discount)
            win_actions = agent.act(wins.win_now, search).actions
            block_actions = agent.act(pons.must_block, search).actions
            win_cells.append(f"{hit_rate(win_actions, wins.winning):.1%} "
                             f"({hit_rate(win_actions[threatened], winning_under_threat):.1%})")
            block_cells.append(f"{hit_rate(block_actions, pons.blocking):.1%}")
        winning_reward, other_reward = reward_gap(agent.network.eval(), wins.win_now, wins.winning)
        lines.append(f"| `{path}` | {agent.checkpoint_step} | " + " | ".join(win_cells + block_cells)
                     + f" | {winning_reward:+.2f} / {other_reward:+.2f} |")
    emit_table(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
