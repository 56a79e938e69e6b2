"""`ponder engine` and `ponder bench inference`, and the agent:PATH player helpers."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import envs
from agent.agent import Agent
from agent.checkpoint import make_payload, save_checkpoint
from agent.config import NetworkConfig
from agent.engine import serve
from agent.networks import MuZeroNetwork
from agent.player import AgentPlayer, parse_agent_spec
from envs.errors import UsageError

GAME = envs.get_game("tictactoe")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = MuZeroNetwork(GAME, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1))
    path = tmp_path_factory.mktemp("run") / "checkpoints" / "latest.pt"
    save_checkpoint(path, make_payload(net, GAME, step=7))
    return path


def _serve(checkpoint, text, sims=8, root="puct"):
    agent = Agent.load(checkpoint)
    out = io.StringIO()
    serve(AgentPlayer(agent, sims, root), io.StringIO(text), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("sims, root", [(0, "puct"), (8, "puct"), (8, "gumbel")])
def test_engine_answers_every_line(checkpoint, sims, root):
    lines = "\n".join(["", "0 4", "0 4 4", "0 x", "0 3 1 4 2", "0 3 1 4 2 5", "99", "  4  "]) + "\n"
    answers = _serve(checkpoint, lines, sims, root)
    assert len(answers) == 8
    first, second = answers[0], answers[1]
    for answer, history in ((first, []), (second, [0, 4]), (answers[7], [4])):
        state = GAME.state_from_actions(history)
        assert set(answer) == {"action", "value", "policy", "visits", "sims", "ms"}
        assert state.legal_mask()[answer["action"]]
        assert len(answer["policy"]) == 9 and len(answer["visits"]) == 9
        assert sum(answer["visits"]) == sims and answer["sims"] == sims
        assert -1 <= answer["value"] <= 1 and answer["ms"] >= 0
        assert abs(sum(answer["policy"]) - 1) < 1e-4
    assert "illegal" in answers[2]["error"]           # 4 twice
    assert "not an action id" in answers[3]["error"]  # garbled
    assert "over" in answers[4]["error"]              # finished position
    assert "error" in answers[5]                      # moves after the end
    assert "illegal" in answers[6]["error"]           # off the board


def test_engine_command_eof_and_bad_checkpoint(checkpoint, tmp_path):
    run = subprocess.run([sys.executable, "-m", "scripts.ponder", "engine", "--checkpoint", str(checkpoint.parent.parent),
                          "--sims", "4"], input="\n0\nfoo\n", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(answers) == 3 and "action" in answers[0] and "action" in answers[1] and "error" in answers[2]
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:100])
    run = subprocess.run([sys.executable, "-m", "scripts.ponder", "engine", "--checkpoint", str(corrupt)],
                         input="", capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stdout == "" and len(run.stderr.strip().splitlines()) == 1 and "corrupt" in run.stderr


def test_agent_load_refuses_another_game(checkpoint):
    with pytest.raises(UsageError, match="connect_four"):
        Agent.load(checkpoint, game=envs.get_game("connect_four"))
    assert Agent.load(checkpoint).checkpoint_step == 7


def test_parse_agent_spec():
    # no ROOT: None, the loaded agent's own (agent.player.default_root)
    assert parse_agent_spec("agent:runs/x") == ("runs/x", 50, None)
    assert parse_agent_spec("agent:runs/x:0") == ("runs/x", 0, None)
    assert parse_agent_spec("agent:runs/x:16:gumbel") == ("runs/x", 16, "gumbel")
    assert parse_agent_spec("agent:C:/x.pt:4") == ("C:/x.pt", 4, None)
    for garbage in ("agent:", "agent::5", "agent:x:5:bogus", "agent:x:gumbel", "random", "agent:x:five:puct"):
        with pytest.raises(UsageError):
            parse_agent_spec(garbage)


def test_agent_player_plays_batches_and_counts(checkpoint):
    player = AgentPlayer(Agent.load(checkpoint), sims=3, root="gumbel")
    states = [GAME.initial_state(), GAME.state_from_actions([4])]
    moves = player.act_batch(states)
    assert all(state.legal_mask()[move] for state, move in zip(states, moves))
    assert player.act_batch([]) == []
    stats = player.stats()
    assert stats["network_evals"] == 2 * (1 + 3) and stats["moves"] == 2 and stats["ms"] > 0
    # evaluation searches are deterministic
    assert player.act_batch(states) == moves
    with pytest.raises(UsageError):
        AgentPlayer(player.agent, sims=-1)


def test_bench_inference_json(capsys):
    from agent import bench

    class Args:
        game, batch, checkpoint, repeats, seconds, threads, device, json = "tictactoe", 4, None, 2, 0.02, 1, "cpu", True
        act_sims = 3

    previous = torch.get_num_threads()
    try:
        assert bench.run(Args()) == 0
    finally:
        torch.set_num_threads(previous)
    result = json.loads(capsys.readouterr().out)
    assert result["batch"] == 4 and len(result["initial_repeats"]) == 2
    assert result["initial_per_second"] > 0 and result["recurrent_per_second"] > 0
    assert result["initial_per_second"] == float(np.median(result["initial_repeats"]))
    assert result["act_positions_per_second"] > 0 and 0 <= result["act_outside_network_share"] < 1
    Args.batch = 0
    with pytest.raises(UsageError):
        bench.run(Args())
