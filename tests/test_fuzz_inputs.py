"""Every input surface under arbitrary input, with hypothesis (issue 27).

The surfaces: lines into `ponder engine`, typed lines into `ponder play`, `--set` values,
TOML config files and damaged checkpoint bytes. The promise each test checks is the one the
user is given: an answer or one clear line (exit 2 for commands), never a traceback, and a
damaged checkpoint is never played.

The suite runs a bounded number of examples per surface; `scripts/fuzz_inputs.sh` runs the
same tests with many more (``PONDER_FUZZ_EXAMPLES``) and prints how many cases each tried.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

import envs
from agent.checkpoint import CheckpointError, load_checkpoint, make_payload, save_checkpoint
from agent.config import NetworkConfig
from agent.networks import MuZeroNetwork
from envs.errors import UsageError
from selfplay import config as run_config

EXAMPLES = int(os.environ.get("PONDER_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="PONDER_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
GAME = envs.get_game("tictactoe")

# One line of typed text: anything printable or not, except the characters that end a line.
LINE = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = MuZeroNetwork(GAME, NetworkConfig(channels=8, representation_blocks=1, dynamics_blocks=1))
    path = tmp_path_factory.mktemp("fuzz") / "tiny.pt"
    save_checkpoint(path, make_payload(net, GAME, step=3))
    return path


# ------------------------------------------------------------------------------ ponder engine
def _move_lists() -> st.SearchStrategy[str]:
    """Lines that look like positions: action ids, some out of range, some repeated."""
    return st.lists(st.integers(-3, 12), max_size=11).map(lambda moves: " ".join(map(str, moves)))


@FUZZ
@given(lines=st.lists(st.one_of(LINE, _move_lists()), min_size=1, max_size=6))
def test_engine_answers_each_line_with_a_move_or_an_error(tiny_checkpoint, lines):
    from agent.engine import serve
    from agent.player import AgentPlayer

    agent = _engine_agent(tiny_checkpoint)
    out = io.StringIO()
    serve(AgentPlayer(agent, 4, "puct"), io.StringIO("".join(line + "\n" for line in lines)), out)
    answers = [json.loads(text) for text in out.getvalue().splitlines()]
    assert len(answers) == len(lines)
    for line, answer in zip(lines, answers):
        if "error" in answer:
            assert isinstance(answer["error"], str) and "\n" not in answer["error"]
            continue
        state = GAME.state_from_actions([int(token) for token in line.split()])
        assert state.legal_mask()[answer["action"]] and not state.is_terminal()


_AGENTS: dict[Path, object] = {}


def _engine_agent(path: Path):
    """One loaded agent per checkpoint for the whole module (loading is the slow part)."""
    from agent.agent import Agent

    if path not in _AGENTS:
        _AGENTS[path] = Agent.load(path, device="cpu")
    return _AGENTS[path]


# -------------------------------------------------------------------------------- ponder play
_COMMANDS = st.sampled_from(["hint", "undo", "new", "swap", "help", "?", "sims", "sims x", "sims -1", "sims 3",
                             "sims 100001", "1", "5", "9", "10", "0", "a1", "pass", ""])
_PLAY_LINE = st.one_of(LINE, _COMMANDS, st.tuples(_COMMANDS, LINE).map(" ".join))


def _play(argv: list[str], typed: str) -> tuple[int, str, str]:
    from scripts.ponder import main

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, {"NO_COLOR": "1"}), mock.patch.object(sys, "stdin", io.StringIO(typed)), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["play", *argv])
    return status, out.getvalue(), err.getvalue()


@FUZZ
@given(lines=st.lists(_PLAY_LINE, max_size=12))
def test_play_takes_any_typed_lines_without_a_traceback(lines):
    status, out, err = _play(["--game", "tictactoe", "--opponent", "heuristic", "--seed", "1"],
                             "".join(line + "\n" for line in lines))
    assert status == 0 and err == ""
    assert "Traceback" not in out


@FUZZ
@given(lines=st.lists(_PLAY_LINE, max_size=8))
def test_play_against_an_agent_takes_any_typed_lines(tiny_checkpoint, lines):
    status, out, err = _play(["--game", "tictactoe", "--checkpoint", str(tiny_checkpoint), "--sims", "2"],
                             "".join(line + "\n" for line in lines))
    assert status == 0 and err == ""
    assert "Traceback" not in out


# ---------------------------------------------------------------------------------- --set
def _config_keys() -> list[tuple[str, str]]:
    base = run_config.preset("tictactoe")
    return [(section, field) for section in run_config.SECTIONS
            for field in run_config.to_dict(base)[section]]


_KEYS = _config_keys()
# Values as a user might type them: TOML literals, bare words, and anything at all.
_VALUE_TEXT = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "none", "nan", "inf", "-inf", "[]", "[1, 2]", "[-2, 2]", "{}", '""',
                     "puct", "gumbel", "puct+rules", "cpu", "1e400", "0x10", "1_000", "'x'"]),
    LINE,
)


def _is_one_line(error: BaseException) -> bool:
    return "\n" not in str(error) and str(error) != ""


def _equal_configs(left, right) -> bool:
    """Configs equal, with NaN equal to NaN (a config may legitimately hold none, but compare fairly)."""
    def same(a, b):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b
    a, b = run_config.to_dict(left), run_config.to_dict(right)
    return a.keys() == b.keys() and all(a[s].keys() == b[s].keys() and all(same(a[s][k], b[s][k]) for k in a[s])
                                        for s in a)


@FUZZ
@given(key=st.sampled_from(_KEYS), text=_VALUE_TEXT)
@example(key=("game", "name"), text="\x08")   # found by the fuzzer: a control character was written raw
def test_a_set_value_is_taken_and_round_trips_or_is_refused_naming_its_key(tmp_path_factory, key, text):
    section, name = key
    base = run_config.preset("tictactoe")
    try:
        config = run_config.apply_overrides(base, [f"{section}.{name}={text}"])
    except UsageError as error:
        assert _is_one_line(error) and name in str(error), str(error)
        return
    # What was taken must be a value the run can save and read back exactly.
    path = tmp_path_factory.mktemp("set") / "config.toml"
    run_config.write_toml(config, path)
    assert _equal_configs(run_config.read_toml(path), config)


@FUZZ
@given(assignment=LINE)
def test_any_set_string_is_taken_or_refused_with_one_line(assignment):
    try:
        run_config.apply_overrides(run_config.preset("tictactoe"), [assignment])
    except UsageError as error:
        assert _is_one_line(error)


def test_a_bad_set_is_exit_2_and_one_line_from_the_command_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "scripts.ponder", "train", "--game", "tictactoe",
                          "--out", str(tmp_path / "run"), "--set", "learner.batch_size=[1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "learner.batch_size" in run.stderr
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ TOML configs
def _toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON escapes are valid TOML basic-string escapes
    return "[" + ", ".join(_toml_literal(item) for item in value) + "]"


_SCALARS = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=12),
                     st.sampled_from(["puct", "gumbel", "tictactoe", "connect_four", "cpu"]))
_TOML_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))


@FUZZ
@given(entries=st.lists(st.tuples(st.sampled_from(_KEYS + [("learner", "batch"), ("nope", "x")]), _TOML_VALUES),
                        max_size=5))
def test_a_toml_config_is_read_or_refused_naming_its_key(tmp_path_factory, entries):
    tables: dict[str, dict[str, object]] = {}
    for (section, name), value in entries:
        tables.setdefault(section, {})[name] = value
    text = "".join(f"[{section}]\n" + "".join(f"{name} = {_toml_literal(value)}\n" for name, value in body.items())
                   for section, body in tables.items())
    path = tmp_path_factory.mktemp("toml") / "config.toml"
    path.write_text(text)
    try:
        config = run_config.read_toml(path)
    except UsageError as error:
        assert _is_one_line(error)
        return
    again = path.with_name("again.toml")
    run_config.write_toml(config, again)
    assert _equal_configs(run_config.read_toml(again), config)


@FUZZ
@given(data=st.binary(max_size=200) | LINE.map(str.encode))
def test_arbitrary_bytes_as_a_toml_config_are_refused_with_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "config.toml"
    path.write_bytes(data)
    try:
        run_config.read_toml(path)
    except UsageError as error:
        assert _is_one_line(error)


# ------------------------------------------------------------------------------ checkpoint bytes
_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.999)),
    st.tuples(st.just("flip"), st.floats(0.0, 0.999), st.integers(0, 7)),
    st.tuples(st.just("overwrite"), st.floats(0.0, 0.999), st.binary(min_size=1, max_size=32)),
)


def _damaged(data: bytes, damage) -> bytes:
    kind, where = damage[0], int(damage[1] * len(data))
    if kind == "truncate":
        return data[:where]
    copy = bytearray(data)
    if kind == "flip":
        copy[where] ^= 1 << damage[2]
    else:
        copy[where:where + len(damage[2])] = damage[2]
    return bytes(copy)


@FUZZ
@given(damages=st.lists(_DAMAGE, min_size=1, max_size=3))
def test_a_damaged_checkpoint_is_refused_with_one_line_or_loads_unchanged(tiny_checkpoint, tmp_path_factory, damages):
    data = tiny_checkpoint.read_bytes()
    for damage in damages:
        data = _damaged(data, damage) or data[:1]
    assume(data != tiny_checkpoint.read_bytes())
    path = tmp_path_factory.mktemp("damaged") / "damaged.pt"
    path.write_bytes(data)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        assert _is_one_line(error)
        return
    original = load_checkpoint(tiny_checkpoint)
    assert all(torch.equal(loaded.model[name], original.model[name]) for name in original.model)
    assert loaded.config == original.config and loaded.step == original.step


def test_a_damaged_checkpoint_is_exit_2_and_one_line_for_the_engine(tiny_checkpoint, tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(_damaged(tiny_checkpoint.read_bytes(), ("truncate", 0.5)))
    run = subprocess.run([sys.executable, "-m", "scripts.ponder", "engine", "--checkpoint", str(path)],
                         input="\n", capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
