"""The training session against a scripted backend: stop rules, checkpoints, resume, failures.

No processes and no self-play: `ScriptedBackend` "trains" one step per `advance` (it only
counts) and finishes one game every other call, so the session's own rules are tested alone.
The backends themselves are tested end to end in test_train.py, test_resume.py and
test_ray_backend.py.
"""
from pathlib import Path

import numpy as np
import pytest

from selfplay import config as run_config
from selfplay.progress import Advance, Counters, FinishedGame, TrainChunk
from selfplay.replay import GameHistory
from selfplay.session import LearnerSnapshot, TrainingSession


class ScriptedReplay:
    def __init__(self) -> None:
        self.saves = 0

    def save(self, folder: Path) -> Path:
        self.saves += 1
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class ScriptedBackend:
    label = "train (scripted)"

    def __init__(self, fail_at: int | None = None, interrupt_at: int | None = None) -> None:
        self.fail_at, self.interrupt_at = fail_at, interrupt_at
        self.closed = 0
        self.finished = False
        self.replay = ScriptedReplay()

    def start(self, start) -> str:
        self.start_record = start
        self.network = start.network
        self.step = start.checkpoint.step if start.checkpoint is not None else 0
        self.calls = self.games = 0
        return "scripted"

    def advance(self, steps_left):
        self.calls += 1
        if self.fail_at is not None and self.step == self.fail_at:
            raise RuntimeError("every actor process has exited")
        if self.interrupt_at is not None and self.step == self.interrupt_at:
            raise KeyboardInterrupt
        advance = Advance()
        if self.calls % 2 == 0:
            self.games += 1
            advance.games.append(FinishedGame(length=5, plies=6, first_player_result=1.0, first_root_value=0.1,
                                              policy_entropy=0.5))
        if steps_left is None or steps_left > 0:
            self.step += 1
            advance.chunks.append(TrainChunk(step=self.step, steps=1, parts={"total": 1.0}, learning_rate=0.01,
                                             seconds=0.001))
        return advance

    def counters(self) -> Counters:
        return Counters(step=self.step, samples=32 * self.calls, positions=5 * self.games, games=self.games,
                        replay_positions=5 * self.games, replay_games=self.games)

    def finish(self) -> Advance:
        self.finished = True
        return Advance()

    def snapshot(self) -> LearnerSnapshot:
        import torch

        return LearnerSnapshot(network=self.network, step=self.step, optimizer={}, samples_trained=32 * self.calls,
                               positions_added=5 * self.games, numpy_rng="{}", torch_rng=torch.get_rng_state(),
                               replay=self.replay, extra={"backend": "scripted"})

    def evaluation_agent(self):
        raise AssertionError("eval_games=0: never evaluated")

    def close(self) -> None:
        self.closed += 1


def config(*overrides):
    return run_config.apply_overrides(run_config.preset("tictactoe"),
                                      ["trainer.eval_games=0", "trainer.log_every_steps=2", *overrides])


def load(path):
    from agent.checkpoint import load_checkpoint

    return load_checkpoint(path)


def test_a_session_stops_at_its_steps_and_writes_one_checkpoint_with_the_run_book(tmp_path):
    backend = ScriptedBackend()
    summary = TrainingSession(config("trainer.max_steps=7"), tmp_path, False, backend, show_progress=False).run()
    assert (summary.step, summary.steps_this_session, summary.stopped_by) == (7, 7, "steps")
    assert backend.finished and backend.closed == 1 and backend.replay.saves == 1
    checkpoint = load(tmp_path / "checkpoints" / "latest.pt")
    assert checkpoint.step == 7
    assert checkpoint.extra["session"] == 0 and checkpoint.extra["games_total"] == backend.games
    assert checkpoint.extra["backend"] == "scripted"
    assert (tmp_path / "config.toml").exists() and list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_a_resumed_session_starts_from_the_checkpoint_and_counts_the_sessions(tmp_path):
    first = ScriptedBackend()
    TrainingSession(config("trainer.max_steps=4"), tmp_path, False, first, show_progress=False).run()
    second = ScriptedBackend()
    summary = TrainingSession(config("trainer.max_steps=3"), tmp_path, True, second, show_progress=False).run()
    start = second.start_record
    assert start.checkpoint.step == 4 and start.session == 1 and start.resume
    for name, tensor in first.network.state_dict().items():     # the network handed over holds the weights
        assert np.array_equal(start.network.state_dict()[name].numpy(), tensor.numpy())
    assert (summary.step, summary.steps_this_session) == (7, 3)
    extra = load(tmp_path / "checkpoints" / "latest.pt").extra
    assert extra["session"] == 1 and extra["games_total"] == first.games + second.games


def test_ctrl_c_ends_the_session_with_a_checkpoint(tmp_path):
    backend = ScriptedBackend(interrupt_at=3)
    summary = TrainingSession(config("trainer.max_steps=50"), tmp_path, False, backend, show_progress=False).run()
    assert summary.stopped_by == "interrupt" and summary.step == 3
    assert load(tmp_path / "checkpoints" / "latest.pt").step == 3 and backend.closed == 1


def test_a_failing_backend_is_closed_and_writes_nothing(tmp_path):
    backend = ScriptedBackend(fail_at=2)
    with pytest.raises(RuntimeError, match="every actor"):
        TrainingSession(config("trainer.max_steps=50"), tmp_path, False, backend, show_progress=False).run()
    assert backend.closed == 1 and not (tmp_path / "checkpoints" / "latest.pt").exists()


def test_a_finished_game_is_summarised_for_the_first_player():
    def game(to_play_last: int, reward: float) -> GameHistory:
        length = 3
        policies = np.full((length, 9), 1 / 9, np.float32)
        return GameHistory(observations=np.zeros((length, 3, 3, 3), np.float32), actions=np.zeros(length, np.int64),
                           rewards=np.array([0, 0, reward], np.float32),
                           to_play=np.array([1 - to_play_last, to_play_last, to_play_last], np.int8),
                           policies=policies, root_values=np.array([0.25, 0, 0], np.float32),
                           legal_masks=np.ones((length, 9), bool), opening=np.array([4, 0], np.int64))
    first_wins, second_wins, draw = game(0, 1.0), game(1, 1.0), game(1, 0.0)
    assert [FinishedGame.of(g).first_player_result for g in (first_wins, second_wins, draw)] == [1.0, -1.0, 0.0]
    summary = FinishedGame.of(first_wins)
    assert (summary.length, summary.plies, summary.first_root_value) == (3, 5, 0.25)
    assert summary.policy_entropy == pytest.approx(np.log(9), rel=1e-5)
