"""The ablation's terminal summary: the table's rows and the sentence that reads them."""
import io

from selfplay.summary import print_summary, summary_sentence


def _results(game="connect_four", policy_rate=None, per_doubling=40.0, learned_minus_rules=None):
    players = [{"name": "c:policy", "kind": "agent", "checkpoint": "c", "sims": 0, "root": "policy"},
               {"name": "c:puct:8", "kind": "agent", "checkpoint": "c", "sims": 8, "root": "puct"},
               {"name": "c:puct:256", "kind": "agent", "checkpoint": "c", "sims": 256, "root": "puct"},
               {"name": "random", "kind": "baseline", "checkpoint": None, "sims": None, "root": None}]
    elo = {p["name"]: {"elo": 100.0 * i, "low": 100.0 * i - 50, "high": 100.0 * i + 50}
           for i, p in enumerate(players)}
    accuracy = {"kind": "none", "rows": []}
    if policy_rate is not None:
        accuracy = {"kind": "tictactoe", "rows": [{"checkpoint": "c", "root": "policy", "sims": 0,
                                                   "optimal_rate": policy_rate}]}
    return {"game": game, "games_per_match": 20, "presets": {"policy_only": 0, "shallow": 8, "deep": 256},
            "checkpoints": [{"label": "c"}], "roots": ["puct"], "players": players,
            "elo": {"players": elo}, "accuracy": accuracy,
            "elo_per_doubling": [{"checkpoint": "c", "root": "puct", "value": per_doubling, "low": 20.0,
                                  "high": 60.0}],
            "learned_minus_rules": learned_minus_rules or []}


def test_a_perfect_network_is_said_to_leave_search_nothing():
    sentence = summary_sentence(_results("tictactoe", policy_rate=0.995))
    assert "99.5% optimal" in sentence and "nothing to add" in sentence


def test_the_sentence_gives_elo_per_doubling_and_the_learned_models_cost():
    cost = [{"checkpoint": "c", "root": "puct", "rules_root": "puct+rules", "sims": 256, "value": -12.0,
             "low": -60.0, "high": 30.0}]
    sentence = summary_sentence(_results(learned_minus_rules=cost))
    assert sentence.startswith("On Connect Four search adds 40 Elo per doubling")
    assert "at 256 simulations its learned model plays -12 Elo" in sentence


def test_the_table_has_policy_shallow_and_deep():
    out = io.StringIO()
    print_summary(_results(), file=out)
    text = out.getvalue()
    assert "policy-only" in text and "shallow: puct 8" in text and "deep: puct 256" in text
    assert "Elo per doubling (puct): 40 [20, 60]" in text
