"""`ponder tradeoff`: end to end on a tiny tic-tac-toe run trained here, the cache, usage errors;
the exchange-rate fit, the schedule and the frontier on synthetic data with known answers."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scripts.ponder import main as ponder
from selfplay.ratings import EloTable, GameResult, rate_players
from selfplay.tradeoff import (RunCheckpoint, choose_checkpoints, exchange_rate, iso_elo_frontier, pick_pairs,
                               windows)

REPO = Path(__file__).resolve().parents[2]
# a checkpoint after every learner step: 10 steps, 10 checkpoints, in a few seconds
TINY_RUN = ["--game", "tictactoe", "--steps", "10", "--sims", "2", "--actors", "1", "--quiet",
            "--set", "actor.games_per_actor=16", "--set", "learner.batch_size=32", "--set", "network.channels=8",
            "--set", "replay.min_positions=40", "--set", "trainer.eval_games=0",
            "--set", "trainer.samples_per_position=2.0", "--set", "trainer.checkpoint_minutes=0.000001",
            "--set", "trainer.keep_checkpoints=1000"]
QUICK = ["--sims", "0,1", "--anchors", "random,heuristic", "--games", "2", "--chunk", "2", "--workers", "1",
         "--bootstrap", "30"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tradeoff") / "run"
    done = subprocess.run([sys.executable, "-m", "scripts.ponder", "train", "--out", str(out), *TINY_RUN],
                          cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((out / "checkpoints").glob("step_*.pt"))) >= 8
    return out


def test_end_to_end_outputs_and_the_cache(tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["tradeoff", "--run", str(tiny_run), "--out", str(out), *QUICK]
    assert ponder(argv + ["--max-games", "100", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    results = json.loads((out / "tradeoff.json").read_text())
    assert printed == results
    for name in ("elo_by_training.png", "iso_elo.png", "report.md", "games.jsonl"):
        assert (out / name).stat().st_size > 0, name

    # 8 checkpoints spread over the run, first and last included, costs growing with training
    assert len(results["checkpoints"]) == 8
    steps = sorted(int(p.stem.split("_")[1]) for p in (tiny_run / "checkpoints").glob("step_*.pt"))
    assert results["checkpoints"][0]["step"] == steps[0] and results["checkpoints"][-1]["step"] == steps[-1]
    costs = [c["cost"] for c in results["checkpoints"]]
    for field in ("seconds", "positions", "learner_steps", "samples", "network_evals"):
        assert all(a[field] <= b[field] for a, b in zip(costs, costs[1:])), field
    # 2 simulations in self-play: each position cost 3 evaluations; no reanalysis
    assert costs[-1]["selfplay_evals"] == 3 * costs[-1]["positions"]

    # players: an agent per (checkpoint, sims) and the anchors, every one rated with an interval
    agents = [p for p in results["players"] if p["kind"] == "agent"]
    assert len(agents) == 16 and {p["sims"] for p in agents} == {0, 1}
    assert [p["name"] for p in results["players"] if p["kind"] == "baseline"] == ["random", "heuristic"]
    by_name = {p["name"]: p for p in results["players"]}
    assert by_name["random"]["elo"] == 0.0
    for player in results["players"]:
        assert player["low"] <= player["elo"] <= player["high"], player["name"]
    # test cost: policy-only 1 network evaluation per move, 1 simulation 2
    assert {p["search_evals_per_move"] for p in agents if p["sims"] == 0} == {1}
    measured = [p["measured_evals_per_move"] for p in agents if p["sims"] == 1 and p["measured_evals_per_move"]]
    assert measured and all(value == pytest.approx(2.0) for value in measured)

    # the exchange rate at early, middle, late training and over the run
    assert [e["window"] for e in results["exchange"]] == ["early", "middle", "late", "all"]
    for entry in results["exchange"]:
        assert set(entry) >= {"elo_per_doubling_train", "elo_per_doubling_search",
                              "train_doublings_per_search_doubling", "train_fold_per_search_doubling"}
    assert len(results["exchange"][-1]["checkpoints"]) == 8
    assert isinstance(results["frontier"], list)

    # the seed round, then adaptive rounds up to --max-games
    schedule, totals = results["schedule"], results["totals"]
    assert schedule["seed_pairs"] == 8 + 2 * 7 + 1 + 2 * 4   # ladders, training neighbours, anchors
    assert 100 <= totals["games"] < 100 + 2 and totals["new_games"] == totals["games"]
    assert schedule["stopped_by"] == "max-games" and schedule["pairs_played"] > schedule["seed_pairs"]
    report = (out / "report.md").read_text()
    assert results["command"] in report and "iso_elo.png" in report

    # a rerun plays nothing: every game comes from the cache, the figures are the same
    lines = (out / "games.jsonl").read_text().count("\n")
    assert ponder(argv + ["--max-games", "100", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["totals"]["new_games"] == 0 and again["totals"]["cached_games"] == totals["games"]
    assert (out / "games.jsonl").read_text().count("\n") == lines
    assert again["exchange"] == results["exchange"]

    # a larger budget resumes: only the games beyond the first 100 are played
    assert ponder(argv + ["--max-games", "130", "--json"]) == 0
    more = json.loads(capsys.readouterr().out)
    assert more["totals"]["cached_games"] == totals["games"]
    assert 130 <= more["totals"]["games"] < 130 + 2
    assert more["totals"]["new_games"] == more["totals"]["games"] - totals["games"]


def test_a_time_budget_still_plays_the_whole_first_round(tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert ponder(["tradeoff", "--run", str(tiny_run), "--out", str(out), *QUICK, "--minutes", "0.0001",
                   "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["schedule"]["stopped_by"] == "minutes" and results["schedule"]["max_games"] is None
    assert results["totals"]["games"] == 2 * results["schedule"]["seed_pairs"]
    assert all(player["elo"] is not None for player in results["players"])
    assert "--minutes 0.0001" in results["command"] and "--max-games" not in results["command"]


def _fake_checkpoint(path, game_name, step, channels=8):
    import torch

    from agent.checkpoint import make_payload, save_checkpoint
    from agent.config import NetworkConfig
    from agent.networks import build_network
    from envs import get_game

    torch.manual_seed(step)
    game = get_game(game_name)
    network = build_network(game, NetworkConfig(channels=channels, representation_blocks=1, dynamics_blocks=1,
                                                prediction_blocks=0, head_hidden=8))
    extra = {"elapsed_seconds": 10.0 * step, "samples_trained": 32 * step, "replay_positions_added": 100 * step,
             "games_total": 10 * step}
    save_checkpoint(path / f"step_{step}.pt", make_payload(network, game, step=step, extra=extra))


@pytest.mark.parametrize("kind, words", [
    ("missing", "no such run folder"),
    ("few", "has 3 checkpoints"),
    ("games", "one run, one game"),
    ("shapes", "different network shapes"),
])
def test_bad_run_folders_are_one_line_and_exit_2(tmp_path, capsys, kind, words):
    run = tmp_path / "run"
    if kind != "missing":
        (run / "checkpoints").mkdir(parents=True)
        for step in range(1, 4 if kind == "few" else 9):
            game = "connect_four" if kind == "games" and step == 5 else "tictactoe"
            _fake_checkpoint(run / "checkpoints", game, step, channels=16 if kind == "shapes" and step == 7 else 8)
    assert ponder(["tradeoff", "--run", str(run), "--out", str(tmp_path / "out"), *QUICK]) == 2
    captured = capsys.readouterr()
    assert words in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
    assert not (tmp_path / "out").exists()


def test_bad_flags_are_one_line(tmp_path, capsys):
    for extra in (["--checkpoints", "4"], ["--sims", "4"], ["--anchors", "agent:x.pt"], ["--games", "0"]):
        assert ponder(["tradeoff", "--run", str(tmp_path), *extra]) == 2, extra
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


# --- the fit on synthetic data -----------------------------------------------------------------------


def _plane_grid(a, b, checkpoints=8, search_doublings=4):
    """log2 train, log2 search and the true Elo a x + b y of a grid of agents."""
    xs, ys = np.meshgrid(np.arange(checkpoints, dtype=float), np.arange(search_doublings, dtype=float), indexing="ij")
    return xs.ravel(), ys.ravel(), a * xs.ravel() + b * ys.ravel()


def test_exchange_rate_recovers_a_known_plane_from_noisy_replicates():
    train, search, elo = _plane_grid(a=60.0, b=90.0)
    rng = np.random.default_rng(0)
    samples = elo + rng.normal(0.0, 15.0, size=(400, elo.size))
    result = exchange_rate(train, search, elo, samples)
    doublings = result["train_doublings_per_search_doubling"]
    assert doublings["value"] == pytest.approx(1.5)
    assert doublings["low"] < 1.5 < doublings["high"] and doublings["high"] - doublings["low"] < 0.5
    assert result["train_fold_per_search_doubling"]["value"] == pytest.approx(2 ** 1.5, rel=1e-3)
    assert result["elo_per_doubling_search"]["value"] == pytest.approx(90.0)


def test_games_from_a_known_world_give_its_exchange_rate():
    """Bradley-Terry games among agents of a known plane (60 Elo per doubling of training, 90 per
    doubling of search: 1.5 doublings, 2.8-fold), rated by `rate_players`: the fit finds it."""
    train, search, truth = _plane_grid(a=60.0, b=90.0)
    names = [f"p{i}" for i in range(truth.size)]
    grid = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(train, search))}
    pairs = [(i, grid[(x + 1, y)]) for (x, y), i in grid.items() if (x + 1, y) in grid]
    pairs += [(i, grid[(x, y + 1)]) for (x, y), i in grid.items() if (x, y + 1) in grid]
    rng = np.random.default_rng(0)
    results = []
    for i, j in pairs:
        p = 1.0 / (1.0 + 10 ** ((truth[j] - truth[i]) / 400.0))
        results += [GameResult(names[i], names[j], float(rng.random() < p)) for _ in range(120)]
    table = rate_players(results, anchor="p0", players=names, bootstrap=200, seed=0, prior_draws=0.1)
    result = exchange_rate(train, search, table.elo, table.samples)
    doublings = result["train_doublings_per_search_doubling"]
    assert abs(doublings["value"] - 1.5) < 0.5       # seeds 0-7 gave 1.24-1.80, each interval covering 1.5
    assert doublings["low"] <= 1.5 <= doublings["high"] and doublings["high"] - doublings["low"] < 1.5
    assert doublings["low"] > 2 / 3                   # the inverse (search and training swapped) is ruled out


def test_no_gain_from_training_leaves_the_rate_open_not_invented():
    train, search, elo = _plane_grid(a=0.0, b=50.0)
    rng = np.random.default_rng(2)
    samples = elo + rng.normal(0.0, 10.0, size=(300, elo.size))
    result = exchange_rate(train, search, elo + rng.normal(0.0, 1.0, elo.size), samples)
    fold = result["train_fold_per_search_doubling"]
    assert fold["unbounded"].get("high") == "+"        # some replicates: training buys nothing at all
    assert result["elo_per_doubling_train"]["low"] < 0 < result["elo_per_doubling_train"]["high"]


def test_windows_cover_early_middle_late_and_all():
    found = windows(8)
    assert [w.name for w in found] == ["early", "middle", "late", "all"]
    assert found[0].indices[0] == 0 and found[2].indices[-1] == 7 and found[3].indices == tuple(range(8))
    assert all(len(w.indices) >= 3 for w in found)
    assert windows(24)[1].indices == tuple(range(7, 16))


def test_iso_elo_frontier_interpolates_in_log_training():
    train = [1.0, 2.0, 4.0, 8.0]
    curves = {0: [0.0, 100.0, 200.0, 300.0], 3: [100.0, 200.0, 300.0, 400.0], 7: [500.0, 500.0, 500.0, 500.0]}
    frontier = iso_elo_frontier(train, curves, [150.0, 350.0])
    first = {p["sims"]: p["train"] for p in frontier[0]["points"]}
    assert first == {0: pytest.approx(2 ** 1.5), 3: pytest.approx(2 ** 0.5)}   # 7 sims starts above: no point
    second = {p["sims"]: p["train"] for p in frontier[1]["points"]}
    assert second == {3: pytest.approx(2 ** 2.5)}                              # policy never reaches 350


def _table(names, elo, samples):
    elo = np.asarray(elo, dtype=float)
    return EloTable(players=tuple(names), elo=elo, low=elo - 1, high=elo + 1, games=np.ones(len(names)),
                    score=np.ones(len(names)), samples=np.asarray(samples, dtype=float), anchor=names[0],
                    prior_draws=1.0)


def test_the_schedule_goes_where_uncertainty_and_even_odds_are():
    from selfplay.matches import MatchPlan, PlayerConfig

    names = ["anchor", "close", "far", "loose", "lost"]
    players = {n: PlayerConfig(name=n, kind="baseline", spec=n) for n in names}
    plans = [MatchPlan(players[a], players[b], 0, f"{a}-{b}")
             for a, b in (("anchor", "close"), ("anchor", "far"), ("anchor", "loose"), ("anchor", "lost"))]
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(200, 5))
    samples = np.array([0, 10, 900, 20, 0]) + noise * np.array([0, 30, 30, 200, 0])
    table = _table(names, [0, 10, 900, 20, np.nan], samples)
    picked = [p.key for p in pick_pairs(table, plans, 3, 4)]
    # never linked first; then the wide interval at even odds; the lopsided pair last
    assert picked == ["anchor-lost", "anchor-loose", "anchor-close"]


def test_checkpoints_spread_over_wall_clock():
    def fake(seconds, step):
        from selfplay.matches import CheckpointInfo

        return RunCheckpoint(CheckpointInfo(f"step_{step}", f"{step}.pt", step, str(step)), {"seconds": seconds})

    run = [fake(300.0 * (i + 1), i) for i in range(24)]             # every 5 minutes for 2 hours
    log_pick = [c.cost["seconds"] / 60 for c in choose_checkpoints(run, 8, "log")]
    linear_pick = [c.cost["seconds"] / 60 for c in choose_checkpoints(run, 8, "linear")]
    assert len(set(log_pick)) == 8 and log_pick[0] == 5 and log_pick[-1] == 120
    assert log_pick[:4] == [5, 10, 15, 20]                             # dense early: equal ratios of training
    assert linear_pick[1] > 15 and all(b - a >= 15 for a, b in zip(linear_pick, linear_pick[1:]))
    assert len(choose_checkpoints(run[:6], 8)) == 6
