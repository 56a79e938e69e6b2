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
from typing import Sequence

from envs.players import parse_player

def play_matches(game, player, opponent, games: int) -> float:
    """Score (win 1, draw 0.5) of ``player`` over ``games`` games, half of them moving first.

    The arena's `play_games`: pairs from the game's seeded random openings
    (`selfplay.openings`, seed 0, so every evaluation of a run meets the same positions),
    the player moving first from the opening in one game of the pair and second in the other.
    """
    from selfplay.arena import play_games
    from selfplay.openings import default_opening_plies, random_openings

    openings = random_openings(game, (games + 1) // 2, default_opening_plies(game), seed=0)
    records = play_games(game, player, opponent, range(games), openings)
    return sum(record.a_score for record in records) / max(1, games)


def score_tag(opponent_spec: str) -> str:
    """The TensorBoard tag stem of an opponent: ``alphabeta:4`` -> ``score_vs_alphabeta_4``."""
    return "score_vs_" + re.sub(r"[^\w.-]", "_", opponent_spec)


def check_opponents(game, opponents: Sequence[str]) -> None:
    """UsageError now, at the start of a run, for an opponent spec that would fail later."""
    for spec in opponents:
        parse_player(spec, game)


def evaluate(game, agent, search, games: int, seed: int,
             opponents: Sequence[str] = ("random", "heuristic")) -> dict[str, float]:
    """Scores against ``opponents`` of the agent's policy alone (the argmax of its prior over
    legal moves) and of its noiseless ``search``, and tic-tac-toe accuracy."""
    from agent.player import AgentPlayer

    players = {"policy": AgentPlayer(agent, 0),
               "search": AgentPlayer(agent, search=search)}
    results: dict[str, float] = {}
    for opponent_spec in opponents:
        for mode, player in players.items():
            opponent = parse_player(opponent_spec, game, seed=seed)
            results[f"{score_tag(opponent_spec)}/{mode}"] = play_matches(game, player, opponent, games)
    if game.name == "tictactoe":
        from selfplay.accuracy import optimal_move_rate, tictactoe_perfect_table

        table = tictactoe_perfect_table(game)
        for mode, player in players.items():
            results[f"optimal_moves/{mode}"] = optimal_move_rate(table, player.act_batch)
    return results


def evaluate_run(game, agent, config, step: int) -> dict[str, float]:
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
    agent.network.eval()
    return evaluate(game, agent, search, trainer.eval_games, seed=trainer.seed + step,
                    opponents=trainer.eval_opponents)

