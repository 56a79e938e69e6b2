"""Periodic evaluation during training: is the network getting stronger, and what does search add?

Every few minutes the trainer asks for a small, seeded set of games against the baselines
of ``trainer.eval_opponents`` (by default `random` and `heuristic`), once with the network's
policy alone (argmax of the prior over legal moves) and once with search, so TensorBoard
shows both curves from the first minute. For tic-tac-toe it also measures the share of
optimal moves over every reachable position (the perfect-play table of `selfplay.accuracy`),
the project's learning target.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

import numpy as np
import torch

from envs.players import parse_player

Chooser = Callable[[Sequence[object]], list[int]]


def policy_only_chooser(network, device: torch.device) -> Chooser:
    """Argmax of the network's prior over legal moves (no search)."""
    def choose(states: Sequence[object]) -> list[int]:
        planes = torch.from_numpy(np.stack([state.planes() for state in states])).to(device)
        network.eval()
        with torch.no_grad():
            _, logits, _ = network.initial(planes)
        logits = logits.float().cpu().numpy()
        masks = np.stack([state.legal_mask() for state in states])
        logits = np.where(masks, logits, -np.inf)
        return [int(a) for a in logits.argmax(axis=1)]
    return choose


def search_chooser(agent, search) -> Chooser:
    """The most visited (pUCT) or Sequential-Halving (Gumbel) move of a noiseless search."""
    quiet = dataclasses.replace(search, dirichlet_fraction=0.0, gumbel_noise=False)

    def choose(states: Sequence[object]) -> list[int]:
        result = agent.act(list(states), quiet, temperature=0.0)
        return [int(a) for a in result.actions]
    return choose


class _ChooserPlayer:
    """A chooser behind the players' ``act_batch`` protocol, for the arena's `play_games`."""

    name = "agent"

    def __init__(self, choose: Chooser) -> None:
        self.act_batch = choose


def play_matches(game, choose: Chooser, opponent, games: int) -> float:
    """Score (win 1, draw 0.5) of ``choose`` over ``games`` games, half of them moving first.

    The arena's `play_games`: pairs from the game's seeded random openings
    (`selfplay.openings`, seed 0, so every evaluation of a run meets the same positions),
    the agent moving first from the opening in one game of the pair and second in the other.
    """
    from selfplay.arena import play_games
    from selfplay.openings import default_opening_plies, random_openings

    openings = random_openings(game, (games + 1) // 2, default_opening_plies(game), seed=0)
    records = play_games(game, _ChooserPlayer(choose), opponent, range(games), openings)
    return sum(record.a_score for record in records) / max(1, games)


def score_tag(opponent_spec: str) -> str:
    """The TensorBoard tag stem of an opponent: ``alphabeta:4`` -> ``score_vs_alphabeta_4``."""
    return "score_vs_" + re.sub(r"[^\w.-]", "_", opponent_spec)


def check_opponents(game, opponents: Sequence[str]) -> None:
    """UsageError now, at the start of a run, for an opponent spec that would fail later."""
    for spec in opponents:
        parse_player(spec, game)


def evaluate(game, network, agent, search, games: int, seed: int, device: torch.device,
             opponents: Sequence[str] = ("random", "heuristic")) -> dict[str, float]:
    """Scores against ``opponents`` (policy-only and search), and tic-tac-toe accuracy."""
    choosers = {"policy": policy_only_chooser(network, device), "search": search_chooser(agent, search)}
    results: dict[str, float] = {}
    for opponent_spec in opponents:
        for mode, choose in choosers.items():
            opponent = parse_player(opponent_spec, game, seed=seed)
            results[f"{score_tag(opponent_spec)}/{mode}"] = play_matches(game, choose, opponent, games)
    if game.name == "tictactoe":
        from selfplay.accuracy import optimal_move_rate, tictactoe_perfect_table

        table = tictactoe_perfect_table(game)
        for mode, choose in choosers.items():
            results[f"optimal_moves/{mode}"] = optimal_move_rate(table, choose)
    return results


def evaluate_run(game, network, agent, config, step: int, device: torch.device) -> dict[str, float]:
    """The periodic evaluation as a run's ``trainer`` section asks for it ({} when it is off).

    Searches use ``eval_sims`` simulations when set (else the self-play count), and the
    games are seeded by the run's seed plus the learner step, so a resumed run replays them.
    """
    trainer = config.trainer
    if trainer.eval_games <= 0:
        return {}
    search = config.search
    if trainer.eval_sims > 0:
        search = dataclasses.replace(search, num_simulations=trainer.eval_sims)
    network.eval()
    return evaluate(game, network, agent, search, trainer.eval_games, seed=trainer.seed + step,
                    device=device, opponents=trainer.eval_opponents)

