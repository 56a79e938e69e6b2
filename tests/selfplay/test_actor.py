"""The self-play actor (`selfplay.actor`): tree reuse between a game's moves."""
import dataclasses

import numpy as np
import pytest
import torch

from agent.agent import Agent
from agent.config import NetworkConfig
from agent.networks import MuZeroNetwork
from envs import get_game
from envs.errors import UsageError
from mcts.config import SearchConfig
from selfplay.actor import Actor
from selfplay.config import ActorConfig, RunConfig, check_trainable


def _actor(reuse: bool, model: str = "rules", seed: int = 0, fast_fraction: float = 0.0) -> Actor:
    game = get_game("tictactoe")
    torch.manual_seed(0)
    network = MuZeroNetwork(game, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1,
                                                prediction_blocks=1, head_hidden=16)).eval()
    search = SearchConfig(num_simulations=16, root="puct", model=model, dirichlet_fraction=0.25)
    config = ActorConfig(games_per_actor=4, temperature_moves=2, reuse_trees=reuse, fast_fraction=fast_fraction,
                         fast_simulations=2)
    return Actor(game, Agent(network, game, device="cpu"), search, config, np.random.default_rng(seed))


@pytest.mark.parametrize("model", ["rules", "learned"])
def test_reused_trees_put_the_kept_subtree_under_each_next_move(model, one_torch_thread):
    """From the second move on, every game still under way searches on top of the subtree
    of the move it played; the stored policy then rests on more visits than one search
    makes, and the games are recorded as without reuse."""
    actor = _actor(reuse=True, model=model)
    finished = []
    for _ in range(12):
        finished.extend(actor.play_move())
    assert actor.session.reused_trees > 0 and actor.session.fresh_trees >= 4
    assert finished and all(len(game.actions) == len(game.policies) for game in finished)
    for game in finished:
        assert np.allclose(game.policies.sum(axis=1), 1.0, atol=1e-5)
        assert not (game.policies * ~game.legal_masks).any()     # no visit to an illegal move


def test_new_weights_drop_learned_trees_and_keep_trees_over_the_rules(one_torch_thread):
    for model, dropped in (("learned", True), ("rules", False)):
        actor = _actor(reuse=True, model=model)
        actor.play_move()
        session = actor.session
        actor.new_weights()
        assert (actor.session is not session) is dropped


def test_without_reuse_the_actor_keeps_no_trees(one_torch_thread):
    actor = _actor(reuse=False)
    actor.play_move()
    actor.new_weights()
    assert actor.session is None


def test_reuse_with_a_gumbel_root_is_refused_naming_the_key():
    config = RunConfig()
    config = dataclasses.replace(config, actor=dataclasses.replace(config.actor, reuse_trees=True),
                                 search=dataclasses.replace(config.search, root="gumbel"))
    with pytest.raises(UsageError, match="actor.reuse_trees"):
        check_trainable(config)


def test_fast_searches_store_no_policy_target_and_cost_fewer_evaluations(one_torch_thread):
    """Playout-cap randomisation: about ``fast_fraction`` of the stored positions carry an
    all-zero policy (no target), the rest a distribution; the network is called less."""
    def play(fraction: float) -> tuple[list, int]:
        actor = _actor(reuse=False, fast_fraction=fraction)
        games = []
        for _ in range(40):
            games.extend(actor.play_move())
        return games, actor.network_evals

    games, evals = play(0.75)
    full_games, full_evals = play(0.0)
    sums = np.concatenate([game.policies.sum(axis=1) for game in games])
    assert set(np.round(sums, 4)) <= {0.0, 1.0} and 0.6 < np.mean(sums == 0) < 0.9
    assert all(np.isfinite(game.root_values).all() for game in games)
    assert not any((np.concatenate([game.policies.sum(axis=1) for game in full_games]) == 0))
    assert evals < 0.6 * full_evals        # same number of moves, a quarter of them at 16 sims
    from selfplay.progress import FinishedGame

    assert all(np.isfinite(FinishedGame.of(game).policy_entropy) or (game.policies.sum(axis=1) == 0).all()
               for game in games)


@pytest.mark.parametrize("values, message", [
    ({"fast_fraction": 1.0, "fast_simulations": 4}, "fast_fraction"),
    ({"fast_fraction": 0.5, "fast_simulations": 0}, "fast_simulations"),
    ({"fast_fraction": 0.5, "fast_simulations": 100_000}, "fast_simulations"),
    ({"fast_fraction": 0.5, "fast_simulations": 4, "reuse_trees": True}, "do not combine"),
])
def test_bad_fast_search_settings_are_refused_naming_the_key(values, message):
    config = RunConfig()
    config = dataclasses.replace(config, actor=dataclasses.replace(config.actor, **values))
    with pytest.raises(UsageError, match=message):
        check_trainable(config)
