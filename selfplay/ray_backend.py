"""The Ray training backend: `ponder train --backend ray [--address ADDR]`.

Same run folder, same classes, same checkpoints as the local backend (`selfplay.trainer`),
with the processes placed by Ray instead of `multiprocessing`:

- one `SelfPlayHost` Ray actor per ``actor.num_actors`` (each hosting an `Actor`), spread
  over the cluster's CPUs, or given a GPU share for batched inference
  (``RayOptions.actor_gpu_fraction``); restarted by Ray when its process dies;
- one `ReplayHost` (hosting the `Replay`), pinned to this (the driver's) node so that it
  saves into the run folder; restarted from the last saved replay if it dies;
- one `LearnerHost` (hosting the `Learner`) on a GPU when the cluster has one and
  ``--device`` is ``auto`` or ``cuda``, pulling its batches straight from the replay host;
- weights go out as one object-store object per published version.

This driver only schedules coarse calls (a few moves per self-play call, a chunk of
learner steps per learner call), holds the samples-per-position ratio with the local
trainer's rule (`selfplay.throttle`: the learner waits for positions, actors wait while
they are more than ``ratio_slack_positions``, at least one batch's worth, ahead), writes
TensorBoard and the progress line, evaluates on a CPU copy of the network, and writes
checkpoints with the local backend's `save_run_checkpoint`, with the same ``extra``
counters, so a run can be resumed by either backend.
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
from selfplay.config import RunConfig, write_toml
from selfplay.progress import ProgressLine, log_evaluation, run_parts
from selfplay.throttle import RatioThrottle
from selfplay.run_folder import InterruptFlag, RunBook, RunPaths, resume_checkpoint, save_run_checkpoint
from selfplay.trainer import TrainSummary

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
    """Train ``config`` into the run folder ``out`` on Ray; same inputs and result as `LocalTrainer.run`."""
    options = options or RayOptions()
    if address is not None:
        options = dataclasses.replace(options, address=address)
    if options.mixed_precision:   # the learner's own switch, learner.precision, does the work
        config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, precision="bf16"))
    try:
        import ray
    except ImportError:
        raise UsageError("--backend ray needs Ray: pip install 'ponder[ray]' (or pip install 'ray[default]')") from None
    return RayTrainer(config, Path(out), resume, show_progress, options).run()


class RayTrainer:
    """One Ray training session: start hosts, run the loop, checkpoint, stop everything it started."""

    def __init__(self, config: RunConfig, out: Path, resume: bool, show_progress: bool, options: RayOptions) -> None:
        self.config = config
        self.paths = RunPaths(Path(out))
        self.resume = resume
        self.show_progress = show_progress
        self.options = options
        self.throttle = RatioThrottle.from_config(config)
        self.started_ray = False
        self.hosts: list = []

    # -------------------------------------------------------------- Ray and the hosts
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

    def _stop(self, ray) -> None:
        for handle in self.hosts:
            try:
                ray.kill(handle, no_restart=True)
            except Exception:
                pass
        self.hosts = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False

    # -------------------------------------------------------------- resume and checkpoints
    def _load_resume_state(self) -> None:
        """Read ``latest.pt`` (if resuming) the way the local backend does; check it fits the config."""
        import torch

        from agent.networks import MuZeroNetwork
        from envs.registry import get_game

        self.game = get_game(self.config.game.name, **self.config.game.options)
        torch.manual_seed(self.config.trainer.seed)
        self.network = MuZeroNetwork(self.game, self.config.network)   # CPU copy: evaluation, checkpoints
        self.checkpoint = resume_checkpoint(self.paths, self.game, self.network) if self.resume else None
        book = RunBook.after(self.checkpoint.extra) if self.checkpoint is not None else RunBook()
        self.book, self.session, self.games_total = book, book.session, book.games_total

    def _save_checkpoint(self, ray, elapsed: float) -> Path:
        import torch

        state = ray.get(self.learner.checkpoint_state.remote())
        self.network.load_state_dict(state["model"])
        counters = ray.get(self.replay.counters.remote())
        torch_rng = state["torch_rng"] if isinstance(state["torch_rng"], torch.Tensor) else torch.get_rng_state()
        extra = self.book.extra(elapsed=elapsed, games_total=self.games_total, samples_trained=state["samples_trained"],
                                positions_added=counters["positions_added"],
                                numpy_rng=json.dumps(ray.get(self.replay.rng_state.remote())), torch_rng=torch_rng,
                                backend="ray")
        learner_view = _LearnerView(self.network, state["step"], state["optimizer"])
        replay_view = _ReplayView(ray, self.replay)
        return save_run_checkpoint(self.paths, learner_view, replay_view, self.game, self.config, extra,
                                   self.config.trainer.keep_checkpoints)

    def _evaluate(self, ray) -> dict:
        from agent.agent import Agent
        from selfplay.evaluation import evaluate_run

        if self.config.trainer.eval_games <= 0:
            return {}
        import torch

        current = ray.get(self.learner.publish_weights.remote())   # after any in-flight chunk
        self.network.load_state_dict({name: torch.as_tensor(np.array(array)) for name, array in current.items()})
        agent = Agent(self.network, self.game, device="cpu")
        return evaluate_run(self.game, self.network, agent, self.config, self.step, torch.device("cpu"))

    # -------------------------------------------------------------- the loop
    def run(self) -> TrainSummary:
        import torch

        self._load_resume_state()
        ray = self._connect()
        config, trainer = self.config, self.config.trainer
        torch.set_num_threads(1)          # the driver only evaluates and writes files
        interrupted = InterruptFlag()
        self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        write_toml(config, self.paths.config)
        from torch.utils.tensorboard import SummaryWriter

        start_step = self.checkpoint.step if self.checkpoint is not None else 0
        self.step = start_step
        writer = SummaryWriter(str(self.paths.tensorboard), purge_step=start_step if self.resume else None)
        monitor = RayMonitor(writer, show_progress=self.show_progress, trainer=trainer, start_step=start_step)
        loop = self.loop = _LoopState()
        started = time.monotonic()
        stopped_by = "steps"
        evaluation: dict = {}
        try:
            interrupted.install()
            self._start_hosts(ray)
            loop.replay_positions = int(ray.get(self.replay.counters.remote())["positions"])
            monitor.start(self.learner_device, len(self.actors))
            stopped_by = self._loop(ray, loop, monitor, interrupted, started, start_step)
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        except BaseException:
            interrupted.uninstall()
            monitor.stop()
            writer.close()
            self._stop(ray)
            raise
        interrupted.uninstall()
        elapsed = time.monotonic() - started
        try:
            self._drain(ray, loop, monitor)
            if self.step > start_step or not self.paths.latest.exists():
                if trainer.eval_games > 0:
                    evaluation = self._evaluate(ray)
                    monitor.log_evaluation(self.step, evaluation)
                self._save_checkpoint(ray, elapsed)
            monitor.log_faults(self.step, loop.actor_failures)
        finally:
            monitor.stop()
            writer.close()
            self._stop(ray)
        return TrainSummary(step=self.step, steps_this_session=self.step - start_step,
                            samples_trained=loop.samples, games=loop.games, positions=loop.positions,
                            seconds=elapsed, stopped_by=stopped_by, evaluation=monitor.evaluation or evaluation,
                            checkpoint=self.paths.latest)

    def _loop(self, ray, loop: "_LoopState", monitor: "RayMonitor", interrupted, started: float,
              start_step: int) -> str:
        config, trainer, options = self.config, self.config.trainer, self.options
        batch_size = config.learner.batch_size
        moves = max(1, options.moves_per_call)
        per_call = moves * config.actor.games_per_actor
        last_checkpoint = last_eval = started
        alive = set(range(len(self.actors)))
        while True:
            elapsed = time.monotonic() - started
            if interrupted.flag:
                return "interrupt"
            if trainer.max_steps and self.step - start_step >= trainer.max_steps:
                return "steps"
            if trainer.max_minutes and elapsed >= trainer.max_minutes * 60:
                return "minutes"
            if not alive:
                raise RuntimeError("every self-play actor died more often than max_actor_restarts allows")
            # self-play: keep each actor busy while generation is within the ratio's slack
            # (plies of games still in play are not held to the slack: see the local trainer)
            in_play = max(0, loop.positions - loop.delivered)
            for actor_id in sorted(alive - set(loop.playing.values())):
                if loop.requested - in_play < self.throttle.actor_limit(loop.samples):
                    ref = self.actors[actor_id].play.remote(moves, self.weights_version, [self.weights_ref])
                    loop.playing[ref] = actor_id
                    loop.requested += per_call
            # learning: one chunk at a time, ending at the next weight sync or log point
            if loop.training is None:
                # positions played, finished or not: the learner may run ahead of the last games
                steps = self.throttle.learner_steps(loop.samples, loop.positions, loop.replay_positions)
                if trainer.max_steps:
                    steps = min(steps, trainer.max_steps - (self.step - start_step))
                to_sync = trainer.weight_sync_steps - self.step % trainer.weight_sync_steps
                steps = min(steps, to_sync, trainer.log_every_steps)
                if steps > 0:
                    loop.training = self.learner.train.remote(steps)
                    loop.samples += steps * batch_size        # reserved now, as the local trainer counts
            waiting = list(loop.playing) + ([loop.training] if loop.training is not None else [])
            if not waiting:
                time.sleep(0.01)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=0.2)
            for ref in ready:
                if ref is loop.training or ref == loop.training:
                    self._finish_training(ray, ref, loop, monitor)
                else:
                    self._finish_play(ray, ref, loop, monitor, alive)
            now = time.monotonic()
            if trainer.eval_minutes and now - last_eval >= trainer.eval_minutes * 60 and self.step > start_step:
                monitor.log_evaluation(self.step, self._evaluate(ray))
                last_eval = time.monotonic()
            if trainer.checkpoint_minutes and now - last_checkpoint >= trainer.checkpoint_minutes * 60:
                self._save_checkpoint(ray, now - started)
                last_checkpoint = time.monotonic()
            monitor.refresh(self.step, loop.positions, loop.games, loop.replay_positions, now - started,
                            loop.actor_failures)

    def _finish_training(self, ray, ref, loop: "_LoopState", monitor: "RayMonitor") -> None:
        loop.training = None
        try:
            report = ray.get(ref)
        except ray.exceptions.RayActorError as error:
            raise RuntimeError("the learner died; continue from the last checkpoint with --resume "
                               f"({str(error).splitlines()[0]})") from None
        self.step = report.step
        if report.step % self.config.trainer.weight_sync_steps == 0:
            self.weights_version += 1
            self.weights_ref = self.learner.publish_weights.remote()
        monitor.train(report, loop)

    def _finish_play(self, ray, ref, loop: "_LoopState", monitor: "RayMonitor", alive: set) -> None:
        actor_id = loop.playing.pop(ref)
        per_call = max(1, self.options.moves_per_call) * self.config.actor.games_per_actor
        try:
            report = ray.get(ref)
        except ray.exceptions.RayActorError:
            loop.requested -= per_call                 # those positions never reached replay
            loop.actor_failures += 1
            loop.failures_by_actor[actor_id] = loop.failures_by_actor.get(actor_id, 0) + 1
            limit = self.options.max_actor_restarts
            if limit >= 0 and loop.failures_by_actor[actor_id] > limit:
                alive.discard(actor_id)
            return                                     # Ray restarts it; the next call waits for it
        loop.positions += report.positions
        loop.requested += report.positions - per_call
        loop.games += report.games
        self.games_total += report.games
        loop.replay_positions += sum(report.game_lengths)
        loop.delivered += sum(report.game_lengths)
        monitor.play(report)

    def _drain(self, ray, loop: "_LoopState", monitor: "RayMonitor") -> None:
        """Finish the in-flight learner chunk and self-play calls (their work counts), then stop the actors.

        The actors stop before the final checkpoint so that the saved replay holds exactly the
        games this session counted; a call that does not end within ``DRAIN_SECONDS`` is dropped.
        """
        if loop.training is not None:
            try:
                self._finish_training(ray, loop.training, loop, monitor)
            except RuntimeError:
                pass
        deadline = time.monotonic() + DRAIN_SECONDS
        alive = set(range(len(self.actors)))
        while loop.playing and time.monotonic() < deadline:
            ready, _ = ray.wait(list(loop.playing), num_returns=len(loop.playing),
                                timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                self._finish_play(ray, ref, loop, monitor, alive)
            if not ready:
                break
        loop.playing.clear()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.hosts = [handle for handle in self.hosts if handle not in self.actors]


@dataclass
class _LoopState:
    """The driver's counters for this session (mutable: the loop's own bookkeeping)."""

    positions: int = 0           # self-play positions played this session (one per game per move)
    delivered: int = 0           # positions of finished games stored in replay this session
    games: int = 0
    samples: int = 0             # batch rows trained (or in flight) this session
    requested: int = 0           # positions generated or in flight (the actors' throttle)
    replay_positions: int = 0    # positions in replay (an estimate between counters reads)
    training: object = None      # the learner's in-flight chunk
    playing: dict = dataclasses.field(default_factory=dict)        # ObjectRef -> actor id
    actor_failures: int = 0
    failures_by_actor: dict = dataclasses.field(default_factory=dict)


class _LearnerView:
    """What `save_run_checkpoint` reads from a learner, filled from the remote learner's state."""

    def __init__(self, network, step: int, optimizer: dict) -> None:
        self.network = network
        self.step = step
        self._optimizer = optimizer

    def optimizer_state(self) -> dict:
        return self._optimizer


class _ReplayView:
    """What `save_run_checkpoint` calls on a replay: ``save`` (done by the host, on this node)."""

    def __init__(self, ray, handle) -> None:
        self._ray = ray
        self._handle = handle

    def save(self, folder: Path) -> Path:
        return Path(self._ray.get(self._handle.save.remote()))


class RayMonitor:
    """TensorBoard scalars and the rich progress line for a Ray run."""

    def __init__(self, writer, show_progress: bool, trainer, start_step: int) -> None:
        self.writer = writer
        self.start_step = start_step
        self.line = ProgressLine(show_progress, "train (ray)", trainer.max_steps, trainer.max_minutes)
        self.evaluation: dict = {}
        self.last_loss: float | None = None
        self.rate_time = time.monotonic()
        self.rate_positions = 0
        self.positions_per_second = 0.0
        self.lengths: list[int] = []
        self.results: list[float] = []

    def start(self, learner_device: str, actors: int) -> None:
        self.line.start(f"{actors} actors, learner on {learner_device}")

    def stop(self) -> None:
        self.line.stop()

    def play(self, report) -> None:
        self.lengths.extend(report.game_lengths)
        self.results.extend(report.first_player_results)

    def train(self, report, loop: _LoopState) -> None:
        writer, step = self.writer, report.step
        for name, value in report.parts.items():
            writer.add_scalar(f"loss/{name}", value, step)
        self.last_loss = report.parts.get("total", self.last_loss)
        writer.add_scalar("learner/learning_rate", report.learning_rate, step)
        if report.seconds > 0:
            writer.add_scalar("learner/steps_per_second", report.steps / report.seconds, step)
        now = time.monotonic()
        if now - self.rate_time >= 1.0:
            self.positions_per_second = (loop.positions - self.rate_positions) / (now - self.rate_time)
            self.rate_time, self.rate_positions = now, loop.positions
            writer.add_scalar("selfplay/positions_per_second", self.positions_per_second, step)
        writer.add_scalar("replay/positions", loop.replay_positions, step)
        if self.lengths:
            writer.add_scalar("selfplay/game_length", float(np.mean(self.lengths)), step)
            results = np.asarray(self.results)
            writer.add_scalar("selfplay/outcome_first_player_wins", float(np.mean(results > 0)), step)
            writer.add_scalar("selfplay/outcome_second_player_wins", float(np.mean(results < 0)), step)
            writer.add_scalar("selfplay/outcome_draws", float(np.mean(results == 0)), step)
            self.lengths, self.results = [], []
        writer.add_scalar("ray/actor_failures", loop.actor_failures, step)

    def log_faults(self, step: int, failures: int) -> None:
        self.writer.add_scalar("ray/actor_failures", failures, step)

    def log_evaluation(self, step: int, evaluation: dict) -> None:
        self.evaluation = evaluation
        log_evaluation(self.writer, step, evaluation)

    def refresh(self, step: int, positions: int, games: int, replay_positions: int, elapsed: float,
                failures: int) -> None:
        if not self.line.due():
            return
        done = step - self.start_step
        parts = run_parts(step, done, elapsed, positions / max(elapsed, 1e-9), games, replay_positions, self.last_loss)
        if failures:
            parts.append(f"{failures} actor restarts")
        self.line.update(parts, done, elapsed)
