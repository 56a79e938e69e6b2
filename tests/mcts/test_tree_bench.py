"""`ponder bench tree` reports honest figures with the agreed JSON keys and rejects bad options."""
import argparse
import json

import pytest

from envs.errors import UsageError
from mcts import bench


def parse(*argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_json_output(capsys, root):
    assert bench.run(parse("--batch", "4", "--sims", "5", "--actions", "3", "--repeats", "2",
                           "--root", root, "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"sims_per_sec", "us_per_sim", "batch", "sims", "actions"} <= result.keys()
    assert (result["batch"], result["sims"], result["actions"]) == (4, 5, 3)
    assert result["sims_per_sec"] > 0
    assert result["us_per_sim"] == pytest.approx(1e6 / result["sims_per_sec"])


def test_bad_options():
    with pytest.raises(UsageError, match="--sims"):
        bench.run(parse("--sims", "0"))
