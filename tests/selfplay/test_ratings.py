"""Ratings: Bradley-Terry Elo recovers known gaps from simulated games; intervals and slopes."""
import numpy as np
import pytest

from selfplay.ratings import GameResult, elo_per_doubling, fit_bradley_terry, rate_players


def expected_score(elo_a: float, elo_b: float) -> float:
    return 1.0 / (1.0 + 10 ** ((elo_b - elo_a) / 400.0))


def simulate(true_elo: dict[str, float], pairings, games_per_pair: int, rng, draw_rate: float = 0.0):
    """Games whose expected score follows the Elo model; a draw replaces a win/loss pair."""
    results = []
    for a, b in pairings:
        p = expected_score(true_elo[a], true_elo[b])
        for _ in range(games_per_pair):
            u = rng.random()
            if u < draw_rate:
                score = 0.5
            else:
                # Keep the expectation at p: P(win) = p - draw_rate / 2 out of the rest.
                score = 1.0 if rng.random() < (p - draw_rate / 2) / (1 - draw_rate) else 0.0
            results.append(GameResult(a, b, score) if rng.random() < 0.5 else GameResult(b, a, 1.0 - score))
    return results


TRUE = {"random": 0.0, "s1": 150.0, "s2": 300.0, "s4": 420.0, "s8": 500.0}
LADDER_PAIRS = [("s1", "random"), ("s2", "random"), ("s4", "random"), ("s8", "random"),
                ("s1", "s2"), ("s2", "s4"), ("s4", "s8")]


def test_recovers_known_elo_gaps_with_covering_intervals():
    rng = np.random.default_rng(1)
    results = simulate(TRUE, LADDER_PAIRS, 600, rng)
    table = rate_players(results, anchor="random", bootstrap=200, seed=2, prior_draws=0.0)
    assert table.elo[table.index("random")] == 0.0
    for name, true in TRUE.items():
        i = table.index(name)
        assert abs(table.elo[i] - true) < 45, (name, table.elo[i], true)
        if name != "random":
            assert table.low[i] < table.elo[i] < table.high[i]
            assert table.low[i] - 10 < true < table.high[i] + 10
            assert 20 < table.high[i] - table.low[i] < 200


def test_draws_count_half():
    # 50 draws and nothing else between two players: equal ratings.
    results = [GameResult("a", "random", 0.5)] * 50
    table = rate_players(results, bootstrap=0)
    assert table.elo[table.index("a")] == pytest.approx(0.0, abs=1e-6)
    # 3 wins, 1 loss: Elo gap 400*log10(3) exactly (no prior).
    results = [GameResult("a", "random", 1.0)] * 3 + [GameResult("random", "a", 1.0)]
    table = rate_players(results, bootstrap=0, prior_draws=0.0)
    assert table.elo[table.index("a")] == pytest.approx(400 * np.log10(3), abs=1e-4)
    # A draw is worth half: 2 wins + 2 draws vs 1 loss + ... 3/1 again with draws.
    results = [GameResult("a", "random", 1.0)] * 2 + [GameResult("a", "random", 0.5)] * 2 \
        + [GameResult("a", "random", 0.0)]
    table = rate_players(results, bootstrap=0, prior_draws=0.0)
    assert table.elo[table.index("a")] == pytest.approx(400 * np.log10(3 / 2), abs=1e-4)


def test_perfect_record_stays_finite_under_the_prior():
    results = [GameResult("strong", "random", 1.0)] * 40
    table = rate_players(results, bootstrap=50)
    elo = table.elo[table.index("strong")]
    assert elo == pytest.approx(400 * np.log10(40.5 / 0.5), abs=1e-3)
    assert np.isfinite(table.low).all() and np.isfinite(table.high).all()


def test_disconnected_player_is_nan_and_anchor_must_play():
    results = [GameResult("a", "random", 1.0), GameResult("b", "c", 1.0)]
    table = rate_players(results, bootstrap=10)
    assert np.isnan(table.elo[table.index("b")]) and np.isnan(table.elo[table.index("c")])
    assert np.isfinite(table.elo[table.index("a")])
    assert table.as_dict()["players"]["b"]["elo"] is None
    with pytest.raises(ValueError):
        rate_players([GameResult("a", "b", 1.0)], anchor="random")


def test_fit_is_the_maximum_of_the_likelihood():
    # At the optimum, each player's expected points equal its actual points.
    rng = np.random.default_rng(3)
    results = simulate(TRUE, LADDER_PAIRS, 30, rng, draw_rate=0.2)
    table = rate_players(results, bootstrap=0, prior_draws=0.0)
    expected = np.zeros(len(table.players))
    for r in results:
        i, j = table.index(r.player_a), table.index(r.player_b)
        p = expected_score(table.elo[i], table.elo[j])
        expected[i] += p
        expected[j] += 1 - p
    np.testing.assert_allclose(expected, table.score, atol=1e-6)


def test_elo_per_doubling_recovers_a_linear_ladder():
    slope = 80.0
    true = {"random": 0.0, "policy": 100.0}
    true.update({f"s{2 ** k}": 100.0 + slope * k for k in range(5)})
    names = list(true)
    pairs = [(name, "random") for name in names[1:]] + list(zip(names[2:], names[3:]))
    results = simulate(true, pairs, 500, np.random.default_rng(4))
    table = rate_players(results, bootstrap=100, seed=5, prior_draws=0.0)
    ladder = [(0, "policy")] + [(2 ** k, f"s{2 ** k}") for k in range(5)]
    estimate = elo_per_doubling(table, ladder)
    assert abs(estimate.value - slope) < 20
    assert estimate.low < estimate.value < estimate.high
    assert estimate.low - 5 < slope < estimate.high + 5
    assert np.isnan(elo_per_doubling(table, [(0, "policy"), (1, "s1")]).value)


def test_fit_bradley_terry_tables_directly():
    points = np.array([[0.0, 3.0], [1.0, 0.0]])
    games = np.array([[0.0, 4.0], [4.0, 0.0]])
    elo = fit_bradley_terry(points, games, anchor=1, prior_draws=0.0)
    assert elo[1] == 0.0 and elo[0] == pytest.approx(400 * np.log10(3), abs=1e-4)


def test_elo_difference_recovers_a_gap_and_its_interval_covers_it():
    from selfplay.ratings import elo_difference

    true = {"random": 0.0, "learned": 380.0, "rules": 420.0}
    pairs = [("learned", "random"), ("rules", "random"), ("learned", "rules")]
    table = rate_players(simulate(true, pairs, 800, np.random.default_rng(5)), bootstrap=200, seed=1,
                         prior_draws=0.0)
    gap = elo_difference(table, "learned", "rules")
    assert gap.value == pytest.approx(table.elo[table.index("learned")] - table.elo[table.index("rules")])
    assert gap.low < -40 < gap.high and gap.high - gap.low < 120
    assert np.isnan(elo_difference(table, "learned", "nobody").value)
