"""scripts/value_diagnostic.py: the stage split of a run's training positions."""
import numpy as np
import pytest

from scripts.value_diagnostic import replay_move_choice, replay_stages


def test_replay_stages_count_stones_including_random_openings(tmp_path):
    (tmp_path / "replay").mkdir()
    # Game 1: 3 positions from the empty board (0-2 stones); game 2: 20 positions after a
    # 12-ply opening (12-31 stones).
    np.savez(tmp_path / "replay" / "games.npz", lengths=np.array([3, 20]), opening_lengths=np.array([0, 12]))
    stages = replay_stages(tmp_path)
    assert stages["positions"] == 23 and stages["games"] == 2
    assert stages["mean game length"] == pytest.approx((3 + 32) / 2)
    assert stages["Beginning (<= 14)"] == pytest.approx(6 / 23)
    assert stages["Middle (15-28)"] == pytest.approx(14 / 23)
    assert stages["End (> 28)"] == pytest.approx(3 / 23)


def test_replay_move_choice_counts_moves_off_the_top_of_the_search_policy(tmp_path):
    (tmp_path / "replay").mkdir()
    # One game of 5 moves over 2 actions: moves 1 and 4 are the top move, 2, 3 and 5 are not.
    policies = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [0.9, 0.1], [0.5, 0.5 + 0.1]])
    actions = np.array([0, 1, 0, 0, 0])
    np.savez(tmp_path / "replay" / "games.npz", lengths=np.array([5]), actions=actions, policies=policies)
    rows = replay_move_choice(tmp_path, bands=((0, 2), (2, 5), (5, 9)))
    assert [band for band, _, _ in rows] == ["1-2", "3-5"]        # an empty band is left out
    assert rows[0][1] == pytest.approx(1 / 2) and rows[1][1] == pytest.approx(2 / 3)
    assert rows[0][2] == pytest.approx((0.7 + 0.6) / 2)
