"""The Ray training backend: `ponder train --backend ray [--address ADDR]`.

A `selfplay.session.TrainingSession` runs it as it runs the local backend
(`selfplay.local_backend`): same run folder, checkpoints, resume and monitor, with the
processes placed by Ray instead of `multiprocessing`:

- one `SelfPlayHost` Ray actor per ``actor.num_actors`` (each hosting an `Actor`), spread
  over the cluster's CPUs, or given a GPU share for batched inference
  (``RayOptions.actor_gpu_fraction``); restarted by Ray when its process dies;
- one `ReplayHost` (hosting the `Replay`), pinned to this (the driver's) node so that it
  saves into the run folder; restarted from the last saved replay if it dies;
- one `LearnerHost` (hosting the `Learner`) on a GPU when the cluster has one and
  ``--device`` is ``auto`` or ``cuda``, pulling its batches straight from the replay host;
- weights go out as one object-store object per published version.

This driver only schedules coarse calls (a few moves per self-play call, a chunk of
learner steps per learner call) and holds the samples-per-position ratio with the local
backend's rule (`selfplay.throttle`: the learner waits for positions, actors wait while
they are more than ``ratio_slack_positions``, at least one batch's worth, ahead). The
session evaluates on a CPU copy of the network and checkpoints with the same ``extra``, so
a run can be resumed by either backend.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.checkpoint import NUMPY_RNG_EXTRA, TORCH_RNG_EXTRA
from envs.errors import UsageError
from selfplay.config import RunConfig
from selfplay.progress import Advance, Counters
from selfplay.session import LearnerSnapshot, SessionStart, TrainSummary, train
from selfplay.throttle import RatioThrottle

DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class RayOptions:
    """How the run is placed on Ray (not part of the run config: it may change between resumes).

    address: a Ray cluster address (``auto``, ``ray://host:10001``, ``host:6379``); None
      starts a private local instance, or uses the one this process already started.
    actor_cpus / learner_cpus: CPUs each self-play actor / the learner reserve.
    actor_gpu_fraction: GPU share per self-play actor for batched inference on CUDA (0: CPU).
    mixed_precision: bfloat16 autocast for the learner's steps (CPU or CUDA).
    moves_per_call: moves each self-play call plays in all its games before reporting.
    max_actor_restarts: how often Ray restarts one self-play actor (-1: without limit).
    """

    address: str | None = None
    actor_cpus: float = 1.0
    learner_cpus: float = 1.0
    actor_gpu_fraction: float = 0.0
    mixed_precision: bool = False
    moves_per_call: int = 4
    max_actor_restarts: int = -1


@dataclass(frozen=True)
class Placement:
    """Where things run, decided once from the cluster's resources and the options."""

    learner_device: str        # "cpu" or "cuda"
    learner_gpus: float
    actor_device: str
    actor_gpus: float
    cluster_cpus: float
    cluster_gpus: float


def plan_placement(config: RunConfig, options: RayOptions, cluster_cpus: float, cluster_gpus: float) -> Placement:
    """The placement for ``config`` on a cluster of that size; UsageError if it cannot fit."""
    requested = config.learner.device
    if requested not in ("auto", "cpu", "cuda"):
        raise UsageError(f"learner.device must be auto, cpu or cuda, got {requested!r}")
    if requested == "cuda" and cluster_gpus < 1:
        raise UsageError("--device cuda: the Ray cluster has no GPU (use --device auto or cpu)")
    learner_on_gpu = requested != "cpu" and cluster_gpus >= 1
    if not 0.0 <= options.actor_gpu_fraction <= 1.0:
        raise UsageError("actor GPU fraction must be in [0, 1]")
    actors_on_gpu = options.actor_gpu_fraction > 0
    if actors_on_gpu and requested == "cpu":
        raise UsageError("actor inference on the GPU needs --device auto or cuda, not cpu")
    gpus_needed = (1.0 if learner_on_gpu else 0.0) + (options.actor_gpu_fraction * config.actor.num_actors)
    if actors_on_gpu and gpus_needed > cluster_gpus + 1e-9:
        raise UsageError(f"{config.actor.num_actors} actors x {options.actor_gpu_fraction} GPU"
                         f"{' + the learner' if learner_on_gpu else ''} need {gpus_needed:g} GPUs; "
                         f"the Ray cluster has {cluster_gpus:g}")
    cpus_needed = config.actor.num_actors * options.actor_cpus + options.learner_cpus
    if cpus_needed > cluster_cpus + 1e-9:
        raise UsageError(f"{config.actor.num_actors} actors x {options.actor_cpus:g} CPU + learner "
                         f"{options.learner_cpus:g} CPU need {cpus_needed:g} CPUs; the Ray cluster has "
                         f"{cluster_cpus:g} (lower --actors)")
    return Placement(learner_device="cuda" if learner_on_gpu else "cpu",
                     learner_gpus=1.0 if learner_on_gpu else 0.0,
                     actor_device="cuda" if actors_on_gpu else "cpu",
                     actor_gpus=options.actor_gpu_fraction if actors_on_gpu else 0.0,
                     cluster_cpus=cluster_cpus, cluster_gpus=cluster_gpus)


def run_ray_training(config: RunConfig, out: Path, resume: bool, show_progress: bool = True,
                     address: str | None = None, options: RayOptions | None = None) -> TrainSummary:
    """Train ``config`` into the run folder ``out`` on Ray: a training session with a `RayBackend`."""
    options = options or RayOptions()
    if address is not None:
        options = dataclasses.replace(options, address=address)
    if options.mixed_precision:   # the learner's own switch, learner.precision, does the work
        config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, precision="bf16"))
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--backend ray needs Ray: pip install 'ponder[ray]' (or pip install 'ray[default]')") from None
    return train(config, Path(out), resume, RayBackend(options), show_progress)


class RayBackend:
    """Self-play, replay and learner hosts on Ray; the session's driver schedules their calls."""

    label = "train (ray)"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self.started_ray = False
        self.hosts: list = []
        self.actors: list = []
        self.step = 0
        self.loop = _LoopState()

    # -------------------------------------------------------------- Ray and the hosts
    def start(self, start: SessionStart) -> str:
        import torch

        self.config, self.game, self.network = start.config, start.game, start.network   # CPU copy
        self.checkpoint, self.session, self.resume = start.checkpoint, start.session, start.resume
        self.paths = start.paths
        self.throttle = RatioThrottle.from_config(self.config)
        self.step = start.checkpoint.step if start.checkpoint is not None else 0
        torch.set_num_threads(1)          # the driver only evaluates and writes files
        self.ray = self._connect()
        self._start_hosts(self.ray)
        counters = self.ray.get(self.replay.counters.remote())
        self.loop.replay_positions, self.loop.replay_games = int(counters["positions"]), int(counters["games"])
        self.alive = set(range(len(self.actors)))
        return f"{len(self.actors)} actors, learner on {self.learner_device}"

    def _connect(self):
        import ray

        if ray.is_initialized():
            return ray
        repo = str(Path(__file__).resolve().parents[1])
        runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            [repo, *filter(None, [os.environ.get("PYTHONPATH")])])}}
        try:
            if self.options.address:
                ray.init(address=self.options.address, runtime_env=runtime_env, log_to_driver=False)
            else:
                needed = math.ceil(self.config.actor.num_actors * self.options.actor_cpus + self.options.learner_cpus)
                # A private instance on this machine: one process per actor plus the learner,
                # like the local backend, even where that oversubscribes the cores.
                ray.init(num_cpus=max(os.cpu_count() or 1, needed), include_dashboard=False,
                         runtime_env=runtime_env, log_to_driver=False)
        except ConnectionError as error:
            raise UsageError(f"--address {self.options.address}: cannot connect to Ray "
                             f"({str(error).splitlines()[0]})") from None
        self.started_ray = True
        return ray

    def _start_hosts(self, ray) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from selfplay import ray_actors

        config, options = self.config, self.options
        resources = ray.cluster_resources()
        self.placement = plan_placement(config, options, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)))
        seed = config.trainer.seed
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        replay_class = ray.remote(ray_actors.ReplayHost)
        self.replay = replay_class.options(num_cpus=0, max_restarts=-1, scheduling_strategy=here).remote(
            config, str(self.paths.replay), self.resume, [seed, self.session, 0x4E91])
        learner_class = ray.remote(ray_actors.LearnerHost)
        self.learner = learner_class.options(num_cpus=options.learner_cpus, num_gpus=self.placement.learner_gpus,
                                             max_restarts=0).remote(
            config, self.placement.learner_device, self.replay, seed, max(1, int(options.learner_cpus)))
        self.hosts = [self.replay, self.learner]
        self.learner_device = ray.get(self.learner.device_name.remote())
        if self.checkpoint is not None:
            checkpoint = self.checkpoint
            ray.get(self.learner.restore.remote(checkpoint.model, checkpoint.optimizer, checkpoint.step,
                                                int(checkpoint.extra.get("samples_trained", 0)),
                                                checkpoint.extra.get(TORCH_RNG_EXTRA)))
            if NUMPY_RNG_EXTRA in checkpoint.extra:
                ray.get(self.replay.set_rng_state.remote(json.loads(checkpoint.extra[NUMPY_RNG_EXTRA])))
        self.weights_version = 0
        self.weights_ref = self.learner.publish_weights.remote()
        # Kept for the whole session: Ray rebuilds a dead actor from its constructor arguments.
        self.initial_weights_ref = self.weights_ref
        host_class = ray.remote(ray_actors.SelfPlayHost)
        self.actors = []
        for actor_id in range(config.actor.num_actors):
            actor = host_class.options(num_cpus=options.actor_cpus, num_gpus=self.placement.actor_gpus,
                                       max_restarts=options.max_actor_restarts, max_task_retries=0).remote(
                actor_id, config, self.initial_weights_ref, [seed, self.session, actor_id, 0x5E1F], self.replay,
                self.placement.actor_device, config.actor.torch_threads)
            self.actors.append(actor)
        self.hosts.extend(self.actors)


    # -------------------------------------------------------------- the work
    def advance(self, steps_left: int | None) -> Advance:
        """Keep every actor and the learner busy within the ratio; wait up to 0.2 s for one call."""
        ray, loop, config, trainer = self.ray, self.loop, self.config, self.config.trainer
        if not self.alive:
            raise RuntimeError("every self-play actor died more often than max_actor_restarts allows")
        per_call = self._positions_per_call()
        # self-play: keep each actor busy while generation is within the ratio's slack
        # (plies of games still in play are not held to the slack: see the local backend)
        in_play = max(0, loop.positions - loop.delivered)
        for actor_id in sorted(self.alive - set(loop.playing.values())):
            if loop.requested - in_play < self.throttle.actor_limit(loop.samples):
                ref = self.actors[actor_id].play.remote(max(1, self.options.moves_per_call), self.weights_version,
                                                        [self.weights_ref])
                loop.playing[ref] = actor_id
                loop.requested += per_call
        # learning: one chunk at a time, ending at the next weight sync or log point
        if loop.training is None:
            # positions played, finished or not: the learner may run ahead of the last games
            steps = self.throttle.learner_steps(loop.samples, loop.positions, loop.replay_positions)
            if steps_left is not None:
                steps = min(steps, steps_left)
            to_sync = trainer.weight_sync_steps - self.step % trainer.weight_sync_steps
            steps = min(steps, to_sync, trainer.log_every_steps)
            if steps > 0:
                loop.training = self.learner.train.remote(steps)
                loop.samples += steps * config.learner.batch_size    # reserved now, as the local backend counts
        advance = Advance()
        waiting = list(loop.playing) + ([loop.training] if loop.training is not None else [])
        if not waiting:
            time.sleep(0.01)
            return advance
        ready, _ = ray.wait(waiting, num_returns=1, timeout=0.2)
        for ref in ready:
            if ref is loop.training or ref == loop.training:
                self._finish_training(ref, advance)
            else:
                self._finish_play(ref, advance)
        return advance

    def counters(self) -> Counters:
        loop = self.loop
        return Counters(step=self.step, samples=loop.samples, positions=loop.positions, games=loop.games,
                        replay_positions=loop.replay_positions, replay_games=loop.replay_games,
                        actor_failures=loop.actor_failures)

    def _positions_per_call(self) -> int:
        return max(1, self.options.moves_per_call) * self.config.actor.games_per_actor

    def _finish_training(self, ref, advance: Advance) -> None:
        ray, loop = self.ray, self.loop
        loop.training = None
        try:
            chunk = ray.get(ref)
        except ray.exceptions.RayActorError as error:
            raise RuntimeError("the learner died; continue from the last checkpoint with --resume "
                               f"({str(error).splitlines()[0]})") from None
        self.step = chunk.step
        if chunk.step % self.config.trainer.weight_sync_steps == 0:
            self.weights_version += 1
            self.weights_ref = self.learner.publish_weights.remote()
        advance.chunks.append(chunk)

    def _finish_play(self, ref, advance: Advance) -> None:
        ray, loop = self.ray, self.loop
        actor_id = loop.playing.pop(ref)
        per_call = self._positions_per_call()
        try:
            report = ray.get(ref)
        except ray.exceptions.RayActorError:
            loop.requested -= per_call                 # those positions never reached replay
            loop.actor_failures += 1
            loop.failures_by_actor[actor_id] = loop.failures_by_actor.get(actor_id, 0) + 1
            limit = self.options.max_actor_restarts
            if limit >= 0 and loop.failures_by_actor[actor_id] > limit:
                self.alive.discard(actor_id)
            return                                     # Ray restarts it; the next call waits for it
        stored = sum(game.length for game in report.finished)
        loop.positions += report.positions
        loop.requested += report.positions - per_call
        loop.games += len(report.finished)
        loop.replay_games += len(report.finished)
        loop.replay_positions += stored
        loop.delivered += stored
        advance.games.extend(report.finished)
        advance.actor_stats[actor_id] = report.stats

    # -------------------------------------------------------------- checkpoints and evaluation
    def snapshot(self) -> LearnerSnapshot:
        import torch

        ray = self.ray
        state = ray.get(self.learner.checkpoint_state.remote())
        self.network.load_state_dict(state["model"])
        counters = ray.get(self.replay.counters.remote())
        torch_rng = state["torch_rng"] if isinstance(state["torch_rng"], torch.Tensor) else torch.get_rng_state()
        return LearnerSnapshot(network=self.network, step=state["step"], optimizer=state["optimizer"],
                               samples_trained=state["samples_trained"],
                               positions_added=counters["positions_added"],
                               numpy_rng=json.dumps(ray.get(self.replay.rng_state.remote())), torch_rng=torch_rng,
                               replay=_ReplayView(ray, self.replay), extra={"backend": "ray"})

    def evaluation_agent(self):
        import torch

        from agent.agent import Agent

        current = self.ray.get(self.learner.publish_weights.remote())   # after any in-flight chunk
        self.network.load_state_dict({name: torch.as_tensor(np.array(array)) for name, array in current.items()})
        return Agent(self.network, self.game, device="cpu")

    # -------------------------------------------------------------- stop
    def finish(self) -> Advance:
        """Finish the in-flight learner chunk and self-play calls (their work counts), then stop the actors.

        The actors stop before the final checkpoint so that the saved replay holds exactly the
        games this session counted; a call that does not end within ``DRAIN_SECONDS`` is dropped.
        """
        ray, loop = self.ray, self.loop
        advance = Advance()
        if loop.training is not None:
            try:
                self._finish_training(loop.training, advance)
            except RuntimeError:
                pass
        deadline = time.monotonic() + DRAIN_SECONDS
        while loop.playing and time.monotonic() < deadline:
            ready, _ = ray.wait(list(loop.playing), num_returns=len(loop.playing),
                                timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                self._finish_play(ref, advance)
            if not ready:
                break
        loop.playing.clear()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.hosts = [handle for handle in self.hosts if handle not in self.actors]
        return advance

    def close(self) -> None:
        if not self.started_ray and not self.hosts:
            return
        import ray

        for handle in self.hosts:
            try:
                ray.kill(handle, no_restart=True)
            except Exception:
                pass
        self.hosts = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False


@dataclass
class _LoopState:
    """The driver's counters for this session (mutable: the loop's own bookkeeping)."""

    positions: int = 0           # self-play positions played this session (one per game per move)
    delivered: int = 0           # positions of finished games stored in replay this session
    games: int = 0
    samples: int = 0             # batch rows trained (or in flight) this session
    requested: int = 0           # positions generated or in flight (the actors' throttle)
    replay_positions: int = 0    # positions in replay (an estimate between counters reads)
    replay_games: int = 0
    training: object = None      # the learner's in-flight chunk
    playing: dict = dataclasses.field(default_factory=dict)        # ObjectRef -> actor id
    actor_failures: int = 0
    failures_by_actor: dict = dataclasses.field(default_factory=dict)


class _ReplayView:
    """What `save_run_checkpoint` calls on a replay: ``save`` (done by the host, on this node)."""

    def __init__(self, ray, handle) -> None:
        self._ray = ray
        self._handle = handle

    def save(self, folder: Path) -> Path:
        return Path(self._ray.get(self._handle.save.remote()))
