"""PLAYER strings above envs/: agent:PATH[:SIMS[:ROOT]] parsing, and baseline pass-through."""
import pytest

import envs
from envs.errors import UsageError
from selfplay.players import checked_agent_spec, make_player


def test_agent_spec_parsing(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"")
    assert checked_agent_spec(f"agent:{path}").path == str(path)
    spec = checked_agent_spec(f"agent:{path}:0")
    assert (spec.sims, spec.root) == (0, None)   # None: the agent's own root, once loaded
    spec = checked_agent_spec(f"agent:{path}:64:gumbel")
    assert (spec.sims, spec.root) == (64, "gumbel")


@pytest.mark.parametrize("suffix", [":64:alpha", ":gumbel:64", ""])
def test_agent_spec_garbled_or_missing(tmp_path, suffix):
    with pytest.raises(UsageError):
        checked_agent_spec(f"agent:{tmp_path / 'missing.pt'}{suffix}" if not suffix else f"agent:{tmp_path}{suffix}")


def test_baseline_strings_pass_through():
    assert make_player("heuristic", envs.get_game("connect_four"), seed=1).name == "heuristic"
    with pytest.raises(UsageError):
        make_player("bogus", envs.get_game("connect_four"))
