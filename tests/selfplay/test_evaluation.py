"""The periodic training evaluation: which opponents it plays, and how their scores are tagged."""
import dataclasses

import torch

from agent.agent import Agent
from agent.config import NetworkConfig
from agent.networks import build_network
from envs.registry import get_game
from selfplay.config import preset
from selfplay.evaluation import evaluate_run, score_tag


def test_score_tags_are_tensorboard_safe():
    assert score_tag("alphabeta:4") == "score_vs_alphabeta_4"
    assert score_tag("rollout-mcts:1000") == "score_vs_rollout-mcts_1000"
    assert score_tag("heuristic") == "score_vs_heuristic"


def test_evaluate_run_plays_the_configured_opponents_and_nothing_when_off():
    torch.manual_seed(0)
    game = get_game("connect_four")
    network = build_network(game, NetworkConfig.tiny()).eval()
    agent = Agent(network, game)
    config = preset("connect_four")
    config = dataclasses.replace(config, trainer=dataclasses.replace(
        config.trainer, eval_games=2, eval_sims=2, eval_opponents=("random", "alphabeta:1")))
    results = evaluate_run(game, agent, config, step=0)
    assert set(results) == {f"{tag}/{mode}" for tag in ("score_vs_random", "score_vs_alphabeta_1")
                            for mode in ("policy", "search")}
    assert all(0.0 <= score <= 1.0 for score in results.values())
    # Seeded by run seed + step: the same step replays the same games.
    assert evaluate_run(game, agent, config, step=0) == results

    off = dataclasses.replace(config, trainer=dataclasses.replace(config.trainer, eval_games=0))
    assert evaluate_run(game, agent, off, step=0) == {}
