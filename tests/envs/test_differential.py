"""Differential test: the native tictactoe / connect_four states and env against PettingZoo classic.

Random games are played in lock-step on PettingZoo's own `tictactoe_v3` / `connect_four_v3`
and on ours; at every step the legal masks, observations, rewards and terminations must
agree. 10,000 games per game in all (most on the State, which agents use; some on our env).
"""
import numpy as np
import pytest
from pettingzoo.classic import connect_four_v3, tictactoe_v3

import envs

GAMES_ON_STATE = 9_000
GAMES_ON_ENV = 1_000


def _assert_same_step(reference, state, agent, player):
    observed = reference.observe(agent)
    np.testing.assert_array_equal(observed["action_mask"].astype(bool), state.legal_mask())
    np.testing.assert_array_equal(observed["observation"].transpose(2, 0, 1), state.planes_for(player))
    assert player == state.to_play


@pytest.mark.parametrize("name,module", [("tictactoe", tictactoe_v3), ("connect_four", connect_four_v3)])
def test_native_state_matches_pettingzoo(name, module):
    game = envs.get_game(name)
    rng = np.random.default_rng(2024)
    reference = module.raw_env()
    for _ in range(GAMES_ON_STATE):
        reference.reset()
        state = game.initial_state()
        while True:
            agent = reference.agent_selection
            player = reference.possible_agents.index(agent)
            if reference.terminations[agent]:
                break
            _assert_same_step(reference, state, agent, player)
            action = int(rng.choice(np.flatnonzero(state.legal_mask())))
            reference.step(action)
            state = state.play(action)
            assert state.is_terminal() == all(reference.terminations.values())
        assert state.is_terminal()
        rewards = [reference.rewards[a] for a in reference.possible_agents]
        winner = state.winner()
        expected = [0, 0] if winner is None else [1 if p == winner else -1 for p in (0, 1)]
        assert rewards == expected
        assert state.outcome() == expected[state.to_play]
        assert not state.legal_mask().any()


@pytest.mark.parametrize("name,module", [("tictactoe", tictactoe_v3), ("connect_four", connect_four_v3)])
def test_native_env_matches_pettingzoo(name, module):
    rng = np.random.default_rng(7)
    reference = module.env()
    ours = envs.make(name)
    assert ours.possible_agents == reference.possible_agents
    for _ in range(GAMES_ON_ENV):
        reference.reset()
        ours.reset()
        for agent in reference.agent_iter():
            assert ours.agent_selection == agent
            ref_obs, ref_reward, ref_term, ref_trunc, _ = reference.last()
            obs, reward, term, trunc, _ = ours.last()
            np.testing.assert_array_equal(obs["observation"], ref_obs["observation"])
            np.testing.assert_array_equal(obs["action_mask"], ref_obs["action_mask"])
            assert (reward, term, trunc) == (ref_reward, ref_term, ref_trunc)
            action = None if term or trunc else int(rng.choice(np.flatnonzero(ref_obs["action_mask"])))
            reference.step(action)
            ours.step(action)
        assert ours.agents == []


def test_illegal_move_ends_game_like_pettingzoo():
    reference = tictactoe_v3.env()
    ours = envs.make("tictactoe")
    for env in (reference, ours):
        env.reset()
        env.step(4)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.step(4)
        ours.step(4)
    assert ours.rewards == reference.rewards
    assert ours.terminations == reference.terminations
