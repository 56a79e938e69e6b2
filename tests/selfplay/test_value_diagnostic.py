"""scripts/value_diagnostic.py: the stage split of a run's training positions."""
import numpy as np
import pytest

from scripts.value_diagnostic import replay_stages


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
