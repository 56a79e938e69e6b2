"""`make demo` cannot break silently: the same script, cut down to a minute, in the suite (issue 29)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_the_demo_script_runs_cut_down_and_ends_with_the_answer(tmp_path):
    ponder = Path(sys.executable).parent / "ponder"
    env = {**os.environ, "PONDER": str(ponder) if ponder.exists() else "", "TTT_GAMES": "2", "TTT_SIMS": "0,2",
           "C4_GAMES": "2", "C4_SIMS": "0,4", "C4_POSITIONS": "3", "C4_OPPONENTS": "random,heuristic",
           "C4_FIDELITY_GAMES": "2", "NO_COLOR": "1"}
    if not env["PONDER"]:
        pytest.skip("no ponder command beside this python")
    run = subprocess.run(["bash", "scripts/demo.sh", str(tmp_path / "demo"), "0.15"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=580)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    # both games end with their answer in the terminal: the table and the sentence that reads it
    assert "tictactoe: what search adds" in out and "connect_four: what search adds" in out
    assert out.count("Elo per doubling") >= 2 and "On tic-tac-toe" in out and "On Connect Four" in out
    assert "ponder play --game connect_four" in out and "Traceback" not in run.stderr
    for report in ("demo/ablation/report.md", "demo/ablation_connect_four/report.md"):
        assert (tmp_path / report).exists()
