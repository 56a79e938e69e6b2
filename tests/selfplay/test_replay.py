"""Replay: value targets' sign from the view of the player to move, unroll masks, sampling, persistence."""
import numpy as np
import pytest

from envs.registry import get_game
from selfplay.actor import mover_reward
from selfplay.replay import GameHistory, Replay, value_targets

GAME = get_game("tictactoe")
FIRST_PLAYER_WINS = [0, 3, 1, 4, 2]            # X takes the top row on ply 5
SECOND_PLAYER_WINS = [0, 3, 1, 4, 8, 5]        # O takes the middle row on ply 6
DRAW = [0, 4, 8, 1, 7, 6, 2, 5, 3]


def history_of(actions, root_values=None, opening=()):
    """A GameHistory of real tic-tac-toe play (policies: one-hot of the move played)."""
    state = GAME.state_from_actions(list(opening))
    observations, to_play, masks, rewards = [], [], [], []
    for action in actions:
        observations.append(state.planes())
        to_play.append(state.to_play)
        masks.append(state.legal_mask())
        mover = state.to_play
        state = state.play(action)
        rewards.append(mover_reward(state, mover))
    assert state.is_terminal()
    length = len(actions)
    policies = np.eye(GAME.num_actions, dtype=np.float32)[actions]
    values = np.zeros(length, np.float32) if root_values is None else np.asarray(root_values, np.float32)
    return GameHistory(np.stack(observations), np.asarray(actions, np.int64), np.asarray(rewards, np.float32),
                       np.asarray(to_play, np.int8), policies, values, np.stack(masks),
                       np.asarray(opening, np.int64))


def state_of_row(observation, plies: int):
    """The tic-tac-toe state of a (possibly transformed) observation, ``plies`` plies in: plane 0
    holds the stones of the player to move, who is X after an even number of plies."""
    from envs.tictactoe import TicTacToeState

    planes = observation.reshape(2, 9)
    mover, other = (int(sum(1 << i for i in np.flatnonzero(planes[p]))) for p in (0, 1))
    stones = (mover, other) if plies % 2 == 0 else (other, mover)
    return TicTacToeState(stones, history=(0,) * plies)


def test_final_outcome_value_targets_follow_the_player_to_move():
    assert value_targets(history_of(FIRST_PLAYER_WINS), -1, 1.0, True).tolist() == [1, -1, 1, -1, 1]
    assert value_targets(history_of(SECOND_PLAYER_WINS), -1, 1.0, True).tolist() == [-1, 1, -1, 1, -1, 1]
    assert value_targets(history_of(DRAW), -1, 1.0, True).tolist() == [0] * 9


def test_n_step_targets_bootstrap_with_the_sign_of_the_player_to_move():
    game = history_of(FIRST_PLAYER_WINS, root_values=[0.1, 0.2, 0.3, 0.4, 0.5])
    targets = value_targets(game, td_steps=1, discount=0.9, two_player=True)
    # the opponent moves next, so its value counts negatively; the last move earns +1 itself
    np.testing.assert_allclose(targets, [-0.9 * 0.2, -0.9 * 0.3, -0.9 * 0.4, -0.9 * 0.5, 1.0], rtol=1e-6)
    one_player = value_targets(game, td_steps=2, discount=0.5, two_player=False)
    np.testing.assert_allclose(one_player[0], 0.25 * 0.3, rtol=1e-6)


def test_root_value_weight_mixes_the_search_value_into_the_outcome():
    """w = 0.5: half the final outcome, half the stored search value, both from the mover's view."""
    values = [0.2, -0.4, 0.6, -0.8, 1.0]
    game = history_of(FIRST_PLAYER_WINS, root_values=values)
    mixed = value_targets(game, -1, 1.0, True, root_value_weight=0.5)
    np.testing.assert_allclose(mixed, 0.5 * np.array([1, -1, 1, -1, 1]) + 0.5 * np.array(values), rtol=1e-6)
    replay = Replay(capacity_positions=100, unroll_steps=1, root_value_weight=0.5)
    game_id = replay.add_game(game)
    batch = replay.make_batch(np.array([game_id]), np.array([1]), np.ones(1, np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(batch.target_value[0], mixed[1:3], rtol=1e-6)
    replay.update_search(game_id, 1, game.policies[1], root_value=0.0)      # reanalyse refreshes it
    batch = replay.make_batch(np.array([game_id]), np.array([1]), np.ones(1, np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(batch.target_value[0, 0], -0.5, rtol=1e-6)
    with pytest.raises(ValueError):
        Replay(capacity_positions=100, unroll_steps=1, root_value_weight=1.5)


def test_unroll_targets_and_masks_past_the_end():
    replay = Replay(capacity_positions=1000, unroll_steps=5)
    game_id = replay.add_game(history_of(FIRST_PLAYER_WINS))
    batch = replay.make_batch(np.array([game_id]), np.array([3]), np.ones(1, np.float32),
                              np.random.default_rng(0))
    assert batch.target_value[0].tolist() == [-1, 1, 0, 0, 0, 0]
    assert batch.target_reward[0].tolist() == [0, 0, 1, 0, 0, 0]
    assert batch.policy_mask[0].tolist() == [1, 1, 0, 0, 0, 0]
    assert batch.value_mask[0].tolist() == [1, 1, 1, 0, 0, 0]
    assert batch.actions[0, :2].tolist() == [4, 2]
    assert np.all((batch.actions >= 0) & (batch.actions < 9))
    assert batch.target_policy[0, 0].argmax() == 4 and batch.target_policy[0, 2:].sum() == 0
    np.testing.assert_array_equal(batch.observations[0], GAME.state_from_actions([0, 3, 1]).planes())


def test_capacity_drops_the_oldest_games():
    replay = Replay(capacity_positions=20, unroll_steps=2)
    ids = [replay.add_game(history_of(DRAW)) for _ in range(5)]
    assert replay.num_positions <= 20 and len(replay) == 2
    assert replay.game(ids[0]) is None and replay.game(ids[-1]) is not None
    assert replay.positions_added == 45 and replay.games_added == 5


def test_uniform_sampling_covers_every_position():
    replay = Replay(capacity_positions=1000, unroll_steps=1)
    replay.add_game(history_of(FIRST_PLAYER_WINS))
    replay.add_game(history_of(DRAW))
    batch = replay.sample(2000, np.random.default_rng(1))
    seen = set(zip(batch.game_ids.tolist(), batch.positions.tolist()))
    assert len(seen) == 5 + 9
    assert np.all(batch.weights == 1)


def test_prioritised_sampling_follows_priorities():
    replay = Replay(capacity_positions=1000, unroll_steps=1, priority_alpha=1.0, priority_beta=1.0)
    a = replay.add_game(history_of(FIRST_PLAYER_WINS))
    b = replay.add_game(history_of(DRAW))
    replay.update_priorities(np.array([a] * 5 + [b] * 9), np.r_[np.arange(5), np.arange(9)], np.zeros(14))
    replay.update_priorities(np.array([b]), np.array([4]), np.array([10.0]))
    batch = replay.sample(1000, np.random.default_rng(2))
    share = np.mean((batch.game_ids == b) & (batch.positions == 4))
    assert share > 0.95
    # the over-sampled position gets the smallest importance weight
    assert batch.weights[(batch.game_ids == b) & (batch.positions == 4)].max() < batch.weights.max()


def test_save_and_load_restore_samples_exactly(tmp_path):
    replay = Replay(capacity_positions=1000, unroll_steps=3, priority_alpha=0.5)
    replay.add_game(history_of(FIRST_PLAYER_WINS, opening=()))
    replay.add_game(history_of([4, 8, 5, 3, 6, 2, 7], opening=[0, 1]))
    replay.update_priorities(np.array([1]), np.array([2]), np.array([3.0]))
    replay.save(tmp_path)
    restored = Replay(capacity_positions=1000, unroll_steps=3, priority_alpha=0.5)
    assert restored.load(tmp_path)
    assert (restored.num_positions, restored.games_added, restored.positions_added) == (12, 2, 12)
    assert restored.game(1).action_prefix(2) == [0, 1, 4, 8]
    first = replay.sample(64, np.random.default_rng(3))
    second = restored.sample(64, np.random.default_rng(3))
    for name in first.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
    assert not list(tmp_path.glob("*.tmp"))
    assert not Replay(10, 1).load(tmp_path / "nothing")


def test_sampling_an_empty_replay_is_an_error():
    with pytest.raises(ValueError):
        Replay(10, 1).sample(4, np.random.default_rng(0))


def test_dihedral_augmentation_maps_planes_actions_and_policies_together():

    replay = Replay(capacity_positions=1000, unroll_steps=3, symmetries="dihedral")
    game_id = replay.add_game(history_of(FIRST_PLAYER_WINS))
    rows = 64
    batch = replay.make_batch(np.full(rows, game_id), np.full(rows, 2), np.ones(rows, np.float32),
                              np.random.default_rng(4))
    seen_boards = set()
    for row in range(rows):
        state = state_of_row(batch.observations[row], plies=2)   # X (player 0) to move, 2 plies played
        seen_boards.add(state.stones)
        for k, action in enumerate(batch.actions[row, :3].tolist()):
            assert batch.target_policy[row, k].argmax() == action   # policy moved with the action
            state = state.play(action)
        assert state.is_terminal() and state.winner() == 0         # the transformed line still wins
    assert len(seen_boards) == 8                                   # all 8 symmetries appear


def test_mirror_augmentation_reflects_columns():
    from selfplay.replay import symmetry_permutations

    mirror = symmetry_permutations("mirror", 6, 7)[1].reshape(6, 7)
    assert mirror[0].tolist() == [6, 5, 4, 3, 2, 1, 0]
    with pytest.raises(ValueError):
        Replay(10, 1, symmetries="spiral")


@pytest.mark.parametrize("absorbing", [True, False])
def test_learner_trains_absorbing_states_past_the_end_to_zero(absorbing):
    """MuZero's absorbing states: past the terminal, value and reward targets are 0 and count
    in the loss (policy has no target there), unless replay.absorbing_targets is off."""
    import torch

    from agent.networks import MuZeroNetwork
    from selfplay import config as run_config
    from selfplay.learner import Learner

    config = run_config.apply_overrides(run_config.preset("tictactoe"),
                                        [f"replay.absorbing_targets={str(absorbing).lower()}", "loss.unroll_steps=5"])
    replay = Replay(capacity_positions=1000, unroll_steps=5)
    game_id = replay.add_game(history_of(FIRST_PLAYER_WINS))
    batch = replay.make_batch(np.array([game_id]), np.array([3]), np.ones(1, np.float32),
                              np.random.default_rng(0))
    learner = Learner(MuZeroNetwork(GAME, config.network), config, torch.device("cpu"))
    loss_batch = learner.to_loss_batch(batch)
    expected = [1, 1, 1, 1, 1, 1] if absorbing else [1, 1, 1, 0, 0, 0]
    assert loss_batch.value_mask[0].tolist() == expected
    assert loss_batch.target_value[0, 3:].abs().sum() == 0 and loss_batch.target_reward[0, 3:].abs().sum() == 0
    assert loss_batch.target_policy[0, 2:].abs().sum() == 0     # no policy target: zero loss


def test_target_observations_are_the_next_positions_and_move_with_the_symmetry():
    """The consistency loss compares g(h(s_t), a_t..) with h(s_t+k): its target planes are the
    stored positions t+1..t+K (zeros at and past the end), under the row's own symmetry."""

    game = history_of(FIRST_PLAYER_WINS)
    plain = Replay(capacity_positions=1000, unroll_steps=3, target_observations=True)
    game_id = plain.add_game(game)
    batch = plain.make_batch(np.array([game_id]), np.array([2]), np.ones(1, np.float32), np.random.default_rng(0))
    np.testing.assert_array_equal(batch.target_observations[0, :2], game.observations[3:5])
    assert not batch.target_observations[0, 2].any()                 # step 3 is the terminal position
    assert batch.policy_mask[0, 1:].tolist() == [1, 1, 0]
    without = Replay(1000, 3)
    assert without.make_batch(np.array([without.add_game(game)]), np.array([0]), np.ones(1, np.float32),
                              np.random.default_rng(0)).target_observations is None

    augmented = Replay(capacity_positions=1000, unroll_steps=3, symmetries="dihedral", target_observations=True)
    game_id = augmented.add_game(game)
    rows = 32
    batch = augmented.make_batch(np.full(rows, game_id), np.full(rows, 1), np.ones(rows, np.float32),
                                 np.random.default_rng(5))
    for row in range(rows):
        state = state_of_row(batch.observations[row], plies=1)   # O to move after one ply: plane 0 is O's
        for k in range(3):
            state = state.play(int(batch.actions[row, k]))
            if state.is_terminal():
                break
            np.testing.assert_array_equal(batch.target_observations[row, k], state.planes())


def test_the_consistency_loss_trains_from_a_replay_batch():
    """`loss.consistency=true` used to stop the trainer at its first step (the replay gave the
    loss no target planes); a learner step from a replay built by its config now runs."""
    import torch

    from agent.networks import MuZeroNetwork
    from selfplay import config as run_config
    from selfplay.learner import Learner

    config = run_config.apply_overrides(run_config.preset("tictactoe"), ["loss.consistency=true"])
    replay = Replay.from_config(config)
    assert replay.target_observations and replay.symmetries == config.replay.symmetries
    for actions in (FIRST_PLAYER_WINS, SECOND_PLAYER_WINS, DRAW):
        replay.add_game(history_of(actions))
    learner = Learner(MuZeroNetwork(GAME, config.network), config, torch.device("cpu"))
    result = learner.train_step(replay.sample(16, np.random.default_rng(0)), replay)
    assert result.parts["consistency"] < 0          # negative cosine similarity, some rows real


def labelled(history: GameHistory) -> GameHistory:
    """The same game with the action heads' labels of every stored position."""
    state = GAME.state_from_actions(history.opening.tolist())
    ends = []
    for action in history.actions.tolist():
        ends.append(state.action_ends())
        state = state.play(action)
    return GameHistory(**{**history.__dict__, "action_ends": np.stack(ends)})


def test_action_labels_follow_the_unroll_and_stop_at_the_end():
    from envs.game import END_WIN

    game = labelled(history_of(FIRST_PLAYER_WINS))
    replay = Replay(capacity_positions=100, unroll_steps=3, action_labels=True)
    game_id = replay.add_game(game)
    batch = replay.make_batch(np.array([game_id]), np.array([2]), np.ones(1, np.float32), np.random.default_rng(0))
    assert batch.action_mask[0].tolist() == [1, 1, 1, 0]            # positions 2, 3, 4; then the end
    np.testing.assert_array_equal(batch.target_legal[0, :3], game.legal_masks[2:5])
    assert batch.target_ends[0, 2, 2] == END_WIN                     # X completes the top row with 2
    assert (batch.target_ends[0, :3][~game.legal_masks[2:5]] == -1).all()   # no label on illegal moves
    assert (batch.target_ends[0, 3] == -1).all() and not batch.target_legal[0, 3].any()


def test_action_labels_move_with_the_symmetry():
    """Under a board symmetry the labels of every unrolled step are the rules' labels of the
    transformed position (rebuilt from the transformed planes and actions)."""
    replay = Replay(capacity_positions=1000, unroll_steps=2, action_labels=True, symmetries="dihedral")
    game_id = replay.add_game(labelled(history_of(FIRST_PLAYER_WINS)))
    rows = 64
    batch = replay.make_batch(np.full(rows, game_id), np.full(rows, 2), np.ones(rows, np.float32),
                              np.random.default_rng(4))
    for row in range(rows):
        state = state_of_row(batch.observations[row], plies=2)   # X (player 0) to move, 2 plies played
        for k, action in enumerate(batch.actions[row, :2].tolist()):
            legal = state.legal_mask()
            np.testing.assert_array_equal(batch.target_legal[row, k], legal)
            np.testing.assert_array_equal(batch.target_ends[row, k], np.where(legal, state.action_ends(), -1))
            state = state.play(action)


def test_replay_without_labels_gives_no_action_targets_and_old_files_load(tmp_path):
    replay = Replay(capacity_positions=100, unroll_steps=2, action_labels=True)
    game_id = replay.add_game(history_of(FIRST_PLAYER_WINS))             # recorded without labels
    batch = replay.make_batch(np.array([game_id]), np.array([0]), np.ones(1, np.float32), np.random.default_rng(0))
    assert not batch.action_mask.any()
    labelled_replay = Replay(capacity_positions=100, unroll_steps=2, action_labels=True)
    labelled_replay.add_game(labelled(history_of(DRAW)))
    labelled_replay.save(tmp_path / "new")
    restored = Replay(capacity_positions=100, unroll_steps=2, action_labels=True)
    assert restored.load(tmp_path / "new")
    np.testing.assert_array_equal(restored.game(0).action_ends, labelled_replay.game(0).action_ends)
    replay.save(tmp_path / "old")                                       # no action_ends array in the file
    with np.load(tmp_path / "old" / "games.npz") as data:
        assert "action_ends" not in data.files
    old = Replay(capacity_positions=100, unroll_steps=2, action_labels=True)
    assert old.load(tmp_path / "old") and old.game(0).action_ends is None


def test_a_damaged_replay_file_is_refused_with_one_line_and_left_alone(tmp_path):
    from selfplay.replay import REPLAY_FILE, ReplayError

    replay = Replay(capacity_positions=100, unroll_steps=2)
    for actions in (FIRST_PLAYER_WINS, DRAW):
        replay.add_game(history_of(actions))
    path = replay.save(tmp_path)
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    refused = 0
    for trial in range(30):
        damaged = bytearray(data)
        if trial % 2:
            damaged = damaged[:int(rng.integers(1, len(damaged)))]
        else:
            damaged[int(rng.integers(0, len(damaged)))] ^= 1 << int(rng.integers(0, 8))
        folder = tmp_path / f"copy{trial}"
        folder.mkdir()
        (folder / REPLAY_FILE).write_bytes(bytes(damaged))
        restored = Replay(capacity_positions=100, unroll_steps=2)
        try:
            restored.load(folder)
        except ReplayError as error:
            assert "\n" not in str(error) and "damaged replay" in str(error)
            assert (folder / REPLAY_FILE).read_bytes() == bytes(damaged)     # never overwritten
            refused += 1
            continue
        assert len(restored) == 2 and np.array_equal(restored.game(0).actions, replay.game(0).actions)
    assert refused >= 25


def test_dihedral_augmentation_keeps_a_trailing_pass_and_othello_moves_legal():
    """Othello's actions are the 64 cells and a pass: under each of the 8 symmetries the pass
    stays the pass, every unrolled move stays legal in the transformed position (the rules'
    legal masks move with it), and the discs on the board are only moved, never changed."""
    from selfplay.replay import symmetry_actions, symmetry_permutations

    othello = get_game("othello", board_size=6)
    rng = np.random.default_rng(3)
    state, observations, actions, to_play, masks, rewards, ends = othello.initial_state(), [], [], [], [], [], []
    while not state.is_terminal():
        legal = np.flatnonzero(state.legal_mask())
        action = int(rng.choice(legal))
        observations.append(state.planes()), actions.append(action), to_play.append(state.to_play)
        masks.append(state.legal_mask()), ends.append(state.action_ends())
        mover = state.to_play
        state = state.play(action)
        rewards.append(mover_reward(state, mover))
    length = len(actions)
    history = GameHistory(np.stack(observations), np.asarray(actions, np.int64), np.asarray(rewards, np.float32),
                          np.asarray(to_play, np.int8), np.eye(othello.num_actions, dtype=np.float32)[actions],
                          np.zeros(length, np.float32), np.stack(masks), np.zeros(0, np.int64),
                          action_ends=np.stack(ends))
    for cells in symmetry_permutations("dihedral", 6, 6):
        mapped = symmetry_actions("dihedral", cells, 6, 6, othello.num_actions)
        assert mapped[-1] == othello.pass_action and sorted(mapped.tolist()) == list(range(othello.num_actions))
    replay = Replay(capacity_positions=1000, unroll_steps=3, action_labels=True, symmetries="dihedral")
    game_id = replay.add_game(history)
    rows = 256
    starts = rng.integers(0, length, size=rows)
    batch = replay.make_batch(np.full(rows, game_id), starts, np.ones(rows, np.float32), rng)
    for row in range(rows):
        assert np.sort(batch.observations[row].ravel()).tolist() == np.sort(observations[starts[row]].ravel()).tolist()
        for k in range(3):
            if not batch.action_mask[row, k]:
                break
            action = int(batch.actions[row, k])
            assert batch.target_legal[row, k, action]                       # still a legal move there
            assert (action == othello.pass_action) == (actions[starts[row] + k] == othello.pass_action)
            assert batch.target_policy[row, k].argmax() == action
