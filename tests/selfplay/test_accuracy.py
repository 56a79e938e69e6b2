"""Accuracy against perfect play: the shipped Pons labels, the mistake metric, the baselines."""
import numpy as np
import pytest

from envs import get_game
from selfplay.accuracy import (
    PONS_SETS, evaluate_pons_set, sample_rows, expected_random_mistake_rate, expected_random_not_exact_rate,
    expected_win_block_mistake_rate, judge_moves, load_pons_set, load_pons_sets, optimal_move_rate,
    tictactoe_perfect_table,
)

# The data README's table: (labelled rows, uniform random %, win/block %, random not exact-optimal %).
README_BASELINES = {
    "Test_L1_R1": (945, 24.8, 20.9, None),
    "Test_L1_R2": (1000, 29.5, 23.6, None),
    "Test_L1_R3": (815, 48.7, 41.4, None),
    "Test_L2_R1": (1000, 28.6, 13.4, 76.1),
    "Test_L2_R2": (1000, 42.1, 22.8, 75.5),
    "Test_L3_R1": (1000, 31.1, 8.7, 48.5),
}


@pytest.fixture(scope="module")
def pons_sets():
    return {pons_set.name: pons_set for pons_set in load_pons_sets()}


@pytest.fixture(scope="module")
def connect_four():
    return get_game("connect_four")


def test_shipped_sets_load_with_the_documented_sizes(pons_sets):
    assert [name for name, _ in PONS_SETS] == list(pons_sets)
    for name, (rows, *_rest, not_exact) in README_BASELINES.items():
        pons_set = pons_sets[name]
        assert len(pons_set) == rows
        assert pons_set.outcomes.shape == (rows, 7)
        assert (pons_set.scores is None) == (not_exact is None)
        # A full column is unlabelled in both fields.
        if pons_set.scores is not None:
            np.testing.assert_array_equal(np.isnan(pons_set.scores), np.isnan(pons_set.outcomes))
            np.testing.assert_array_equal(np.sign(pons_set.scores[~np.isnan(pons_set.scores)]),
                                          pons_set.outcomes[~np.isnan(pons_set.outcomes)])


def test_full_columns_are_exactly_the_illegal_moves(pons_sets, connect_four):
    pons_set = pons_sets["Test_L3_R1"]
    for row in range(0, len(pons_set), 50):
        state = connect_four.state_from_actions(pons_set.moves[row])
        np.testing.assert_array_equal(state.legal_mask(), np.isfinite(pons_set.outcomes[row]))


@pytest.mark.parametrize("name", list(README_BASELINES))
def test_uniform_random_and_win_block_match_the_readme(name, pons_sets, connect_four):
    _, random_pct, win_block_pct, not_exact_pct = README_BASELINES[name]
    pons_set = pons_sets[name]
    assert 100 * expected_random_mistake_rate(pons_set) == pytest.approx(random_pct, abs=0.051)
    assert 100 * expected_win_block_mistake_rate(pons_set, connect_four) == pytest.approx(win_block_pct, abs=0.051)
    not_exact = expected_random_not_exact_rate(pons_set)
    if not_exact_pct is None:
        assert not_exact is None
    else:
        assert 100 * not_exact == pytest.approx(not_exact_pct, abs=0.051)


def test_judge_moves_on_the_readme_example():
    pons_set = load_pons_set("Test_L3_R1")
    row = pons_set.moves.index(tuple(int(d) - 1 for d in "2252576253462244111563365343671351441"))
    mistake, exact = judge_moves(pons_set, np.array([row, row, row]), np.array([5, 6, 0]))
    # Lost position: no legal move is a mistake; column 6 (id 5) loses more slowly than 7.
    assert mistake.tolist() == [False, False, True]  # id 0 is a full column: counted as a mistake
    assert exact.tolist() == [True, False, False]


def test_sampled_random_play_agrees_with_the_exact_expectation(pons_sets, connect_four):
    pons_set = pons_sets["Test_L2_R2"]
    rng = np.random.default_rng(0)

    def random_chooser(states):
        return [int(rng.choice(state.legal_actions())) for state in states]

    result = evaluate_pons_set(pons_set, random_chooser, connect_four)
    expected = expected_random_mistake_rate(pons_set)
    # 1,000 positions: binomial standard error about 1.6 points.
    assert abs(result.mistake_rate - expected) < 0.05
    assert result.positions == 1000 and result.exact_optimal_rate is not None
    assert abs((1 - result.exact_optimal_rate) - expected_random_not_exact_rate(pons_set)) < 0.05


def test_perfect_chooser_makes_no_mistakes_and_subsampling_is_seeded(pons_sets, connect_four):
    pons_set = pons_sets["Test_L2_R1"]
    by_moves = {moves: row for row, moves in enumerate(pons_set.moves)}

    def oracle(states):
        return [int(np.nanargmax(pons_set.scores[by_moves[state.history]])) for state in states]

    result = evaluate_pons_set(pons_set, oracle, connect_four, positions=100, seed=3)
    assert result.positions == 100 and result.mistake_rate == 0.0 and result.exact_optimal_rate == 1.0
    assert result.allows_win == 0

    def worst(states):
        return [int(np.nanargmin(pons_set.outcomes[by_moves[state.history]])) for state in states]

    bad = evaluate_pons_set(pons_set, worst, connect_four, positions=100, seed=3)
    assert bad.mistake_rate > 0.3
    # the count is the positions where the chosen move leaves the opponent a win at once
    expected = 0
    for moves in [pons_set.moves[row] for row in sample_rows(pons_set, 100, 3)]:
        state = connect_four.state_from_actions(moves)
        column = int(np.nanargmin(pons_set.outcomes[by_moves[moves]]))
        after = state.play(column)
        best = np.nanmax(pons_set.outcomes[by_moves[moves]])
        worse = pons_set.outcomes[by_moves[moves]][column] < best
        expected += bool(worse and not after.is_terminal() and after.winning_actions())
    assert 0 < bad.allows_win == expected


def test_tictactoe_optimal_move_rate():
    table = tictactoe_perfect_table()
    assert len(table.states) == 4520 and table.optimal.shape == (4520, 9)
    assert table.optimal.any(axis=1).all()
    assert not (table.optimal & ~np.stack([s.legal_mask() for s in table.states])).any()
    assert table.values[0] == 0  # the empty board is a draw

    def first_optimal(states):
        index = {state.key(): row for row, state in enumerate(table.states)}
        return [int(np.argmax(table.optimal[index[state.key()]])) for state in states]

    assert optimal_move_rate(table, first_optimal) == 1.0
    rng = np.random.default_rng(0)
    random_rate = optimal_move_rate(table, lambda states: [int(rng.choice(s.legal_actions())) for s in states])
    expected = np.mean(table.optimal.sum(axis=1) / np.stack([s.legal_mask() for s in table.states]).sum(axis=1))
    assert 0.3 < expected < 0.95 and abs(random_rate - expected) < 0.03
