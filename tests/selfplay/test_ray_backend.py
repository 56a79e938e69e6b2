"""The Ray backend on a local Ray instance (2 CPUs): a short run, resume, and a killed actor that comes back.

Placement rules are checked without Ray; everything else skips when Ray is not installed.
"""
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from envs.errors import UsageError
from selfplay import config as run_config
from selfplay.ray_backend import RayOptions, plan_placement

REPO = Path(__file__).resolve().parents[2]
TINY = ["search.num_simulations=2", "actor.num_actors=1", "actor.games_per_actor=16",
        "learner.batch_size=32", "replay.min_positions=40", "trainer.eval_games=2", "trainer.eval_sims=2",
        "trainer.samples_per_position=2.0", "trainer.log_every_steps=5", "trainer.weight_sync_steps=5",
        "learner.device=cpu"]


def tiny_config(*extra):
    return run_config.apply_overrides(run_config.preset("tictactoe"), [*TINY, *extra])


# ----------------------------------------------------------------------------- placement (no Ray)

def test_placement_puts_the_learner_on_a_gpu_only_when_there_is_one():
    config = tiny_config("learner.device=auto", "actor.num_actors=2")
    assert plan_placement(config, RayOptions(), cluster_cpus=4, cluster_gpus=1).learner_device == "cuda"
    on_cpu = plan_placement(config, RayOptions(), cluster_cpus=4, cluster_gpus=0)
    assert (on_cpu.learner_device, on_cpu.learner_gpus, on_cpu.actor_device) == ("cpu", 0.0, "cpu")
    forced = plan_placement(tiny_config("learner.device=cpu"), RayOptions(), cluster_cpus=4, cluster_gpus=1)
    assert forced.learner_device == "cpu"
    shared = plan_placement(config, RayOptions(actor_gpu_fraction=0.25), cluster_cpus=4, cluster_gpus=2)
    assert (shared.actor_device, shared.actor_gpus) == ("cuda", 0.25)


@pytest.mark.parametrize("overrides, options, cpus, gpus, words", [
    (["learner.device=cuda"], RayOptions(), 4, 0, "no GPU"),
    (["actor.num_actors=4"], RayOptions(), 2, 0, "need 5 CPUs"),
    (["learner.device=cpu"], RayOptions(actor_gpu_fraction=0.5), 4, 1, "not cpu"),
    (["learner.device=auto", "actor.num_actors=2"], RayOptions(actor_gpu_fraction=0.5), 4, 1, "need 2 GPUs"),
])
def test_placement_that_cannot_fit_is_one_usage_line(overrides, options, cpus, gpus, words):
    with pytest.raises(UsageError) as error:
        plan_placement(tiny_config(*overrides), options, cpus, gpus)
    assert words in str(error.value) and "\n" not in str(error.value)


# ----------------------------------------------------------------------------- on a local Ray instance

@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    pythonpath = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
    yield ray
    ray.shutdown()


def load(path):
    from agent.checkpoint import load_checkpoint

    return load_checkpoint(path)


@pytest.mark.timeout(300)
def test_short_run_then_resume_with_mixed_precision(ray_instance, tmp_path):
    from selfplay.ray_backend import run_ray_training

    out = tmp_path / "run"
    first = run_ray_training(tiny_config("trainer.max_steps=20"), out, resume=False, show_progress=False)
    assert (first.step, first.steps_this_session, first.stopped_by) == (20, 20, "steps")
    assert first.samples_trained == 20 * 32 and first.positions * 2.0 >= first.samples_trained
    assert (out / "config.toml").exists() and list((out / "tb").glob("events.out.tfevents.*"))
    checkpoint = load(out / "checkpoints" / "latest.pt")
    assert checkpoint.step == 20 and (out / "checkpoints" / "step_20.pt").exists()
    assert {int(s["step"]) for s in checkpoint.optimizer["state"].values()} == {20}
    with np.load(out / "replay" / "games.npz") as data:
        games_first = int(data["counters"][1])
    assert games_first == first.games > 0

    # The same config from the run folder, as `--resume` reads it; bfloat16 autocast on the CPU learner.
    config = run_config.apply_overrides(run_config.read_toml(out / "config.toml"), ["trainer.max_steps=10"])
    resumed = run_ray_training(config, out, resume=True, show_progress=False,
                               options=RayOptions(mixed_precision=True))
    assert (resumed.step, resumed.steps_this_session) == (30, 10)
    checkpoint = load(out / "checkpoints" / "latest.pt")
    assert checkpoint.step == 30 and checkpoint.extra["session"] == 1
    assert {int(s["step"]) for s in checkpoint.optimizer["state"].values()} == {30}
    assert all(np.isfinite(tensor.float().numpy()).all() for tensor in checkpoint.model.values())
    with np.load(out / "replay" / "games.npz") as data:
        assert int(data["counters"][1]) == games_first + resumed.games   # replay reloaded, then grown


@pytest.mark.timeout(300)
def test_a_killed_actor_is_restarted_and_training_goes_on(ray_instance, tmp_path):
    from selfplay.ray_backend import RayBackend
    from selfplay.session import TrainingSession

    ray = ray_instance
    # One actor only: the learner is held to 2 samples per position, so reaching the last
    # step needs positions that only the restarted actor can have played.
    config = tiny_config("trainer.max_steps=60", "trainer.eval_games=0", "trainer.ratio_slack_positions=64")
    backend = RayBackend(RayOptions())
    session = TrainingSession(config, tmp_path / "run", resume=False, backend=backend, show_progress=False)
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(summary=session.run()), daemon=True)
    runner.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (getattr(backend, "step", 0) >= 5 and getattr(backend, "actors", None)):
        time.sleep(0.05)
    assert backend.step >= 5, "training did not start"
    actor = backend.actors[0]
    old_pid = ray.get(actor.pid.remote())
    positions_at_kill = backend.loop.positions
    ray.kill(actor, no_restart=False)
    new_pid = None          # ray.kill is asynchronous: the old process may still answer at first
    while time.monotonic() < deadline and new_pid is None:
        try:
            pid = ray.get(actor.pid.remote(), timeout=5)
            new_pid = pid if pid != old_pid else None
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        time.sleep(0.1)
    runner.join(timeout=240)
    assert not runner.is_alive(), "the run did not finish after the actor was killed"
    summary = outcome["summary"]
    assert new_pid is not None and new_pid != old_pid
    assert summary.step == 60 and summary.stopped_by == "steps"
    assert backend.loop.actor_failures >= 1
    assert summary.samples_trained > 2.0 * positions_at_kill     # it needed positions played after the kill
    assert summary.samples_trained <= 2.0 * summary.positions
    assert load(tmp_path / "run" / "checkpoints" / "latest.pt").step == 60


# ----------------------------------------------------------------------------- the scaling model (no Ray)

def test_scaling_model_moves_the_bottleneck_from_actors_to_learner_to_broadcast():
    from scripts.scaling_model import Calibration, bounds, predict

    calibration = Calibration(
        machine="test", game="tictactoe", games_per_actor=128, simulations=25, batch_size=256,
        samples_per_position=4.0, weight_sync_steps=20, moves_per_call=4, seconds_per_position=1e-3,
        seconds_per_step=0.01, learner_device="cpu", replay_add_seconds_per_position=1e-6,
        replay_batch_seconds=1e-3, weight_bytes=10**8, weight_roundtrip_seconds=float("nan"),
        remote_call_seconds=1e-3)
    # learner: 64 positions per step / 0.01 s = 6400 positions/s; one actor makes 1000.
    assert predict(calibration, 1) == (pytest.approx(1000.0), "actors")
    assert predict(calibration, 4)[1] == "actors" and predict(calibration, 16) == (pytest.approx(6400.0), "learner")
    faster = predict(calibration, 64, learner_speedup=100.0, bandwidth_bytes_per_second=1e11)
    assert faster[1] == "replay"           # a 100x learner waits on the single replay host
    # 100 MB of weights to 8 nodes per 20 steps at 1 GB/s: 1280 positions per 0.8 s = 1600 positions/s
    wide = {bound.resource: bound.positions_per_second
            for bound in bounds(calibration, 128, nodes=8, bandwidth_bytes_per_second=1e9)}
    assert wide["weight broadcast"] == pytest.approx(1600.0)
    assert predict(calibration, 128, nodes=8, bandwidth_bytes_per_second=1e9)[1] == "weight broadcast"
