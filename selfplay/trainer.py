"""The local training backend: actor processes feeding one learner, with checkpoints and resume.

This is the only module that knows about processes. The main process hosts the `Replay`
and the `Learner`; each actor process hosts an `Actor` (spawn context, one torch thread)
and plays many games at once. Finished games come back through one bounded queue; new
weights go out through a one-slot queue per actor every ``weight_sync_steps`` learner
steps. A target ratio of training samples per generated position is held by throttling
whichever side is ahead (`selfplay.throttle`): the learner waits for positions, and actors
wait while the positions they have delivered are more than ``ratio_slack_positions`` (at
least one batch's worth) ahead of what the learner has consumed. Plies of games still in
play do not count against that slack: many actors hold many unfinished games, and counting
them could stall every actor before a single game reached the replay (a deadlock that 14
actors hit on a 16-core machine).

Everything a resumed run needs is in the run folder: ``config.toml``, ``replay/games.npz``
(written first) and ``checkpoints/latest.pt`` (written last, atomically, with the step,
optimizer, counters and random state), so a ``kill -9`` loses at most one checkpoint
interval and never leaves a half-written ``latest.pt``. Ctrl-C (or SIGTERM) stops the
actors and writes a final checkpoint. Actors also exit on their own when their parent
disappears, so a killed trainer leaves no orphans.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.checkpoint import NUMPY_RNG_EXTRA, TORCH_RNG_EXTRA
from selfplay.config import RunConfig, write_toml
from selfplay.progress import ProgressLine, log_evaluation, run_parts
from selfplay.replay import GameHistory, Replay
from selfplay.run_folder import InterruptFlag, RunBook, RunPaths, resume_checkpoint, save_run_checkpoint
from selfplay.throttle import RatioThrottle

GAME_QUEUE_SIZE = 256


@dataclass(frozen=True)
class TrainSummary:
    """The outcome of one `train` call (this session only, except ``step``)."""

    step: int
    steps_this_session: int
    samples_trained: int
    games: int
    positions: int
    seconds: float
    stopped_by: str            # "steps", "minutes", "interrupt"
    evaluation: dict
    checkpoint: Path


# ----------------------------------------------------------------------------- actor process

def _exit_orphaned() -> None:
    """Leave at once when the trainer is gone.

    A plain return would let multiprocessing join the game queue's feeder thread at exit,
    and that thread blocks forever on a full pipe that nobody reads any more.
    """
    os._exit(0)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this actor when the trainer dies (a no-op elsewhere).

    The polling in the actor loop stays as the portable fallback; this covers an actor
    stuck inside a long search or a blocked write when the trainer is killed.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)                  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:                     # the trainer died before prctl took hold
        _exit_orphaned()


def _actor_main(actor_id: int, config: RunConfig, weights: dict, seed_words: list[int],
                game_queue, weights_queue, generated, budget, stop_event, parent_pid: int) -> None:
    """Body of one actor process: play, send finished games, pick up new weights."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the trainer handles Ctrl-C for everyone
    _die_with_parent(parent_pid)
    try:
        import torch

        from agent.agent import Agent
        from agent.networks import MuZeroNetwork
        from envs.registry import get_game
        from selfplay.actor import Actor

        torch.set_num_threads(max(1, config.actor.torch_threads))
        game = get_game(config.game.name, **config.game.options)
        network = MuZeroNetwork(game, config.network)
        network.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})
        network.eval()
        agent = Agent(network, game, device="cpu")
        rng = np.random.default_rng(np.random.SeedSequence(seed_words))
        actor = Actor(game, agent, config.search, config.actor, rng)
        batch = config.actor.games_per_actor
        while not stop_event.is_set():
            if os.getppid() != parent_pid:
                _exit_orphaned()
            latest = None
            while True:
                try:
                    latest = weights_queue.get_nowait()
                except queue.Empty:
                    break
            if latest is not None:
                network.load_state_dict({name: torch.from_numpy(array) for name, array in latest.items()})
                network.eval()
            if generated.value >= budget.value:
                time.sleep(0.01)
                continue
            finished = actor.play_move()
            with generated.get_lock():
                generated.value += batch
            if finished:
                message = ("games", actor_id, finished, dataclasses.asdict(actor.stats()))
                while not stop_event.is_set():
                    try:
                        game_queue.put(message, timeout=0.2)
                        break
                    except queue.Full:
                        if os.getppid() != parent_pid:
                            _exit_orphaned()
    except Exception:  # report to the trainer rather than dying silently
        try:
            game_queue.put(("error", actor_id, traceback.format_exc(), None), timeout=5)
        except Exception:
            pass


# ----------------------------------------------------------------------------- checkpoints

# ----------------------------------------------------------------------------- the trainer

class LocalTrainer:
    """Runs actors in processes and the learner here until a step or time budget is spent."""

    def __init__(self, config: RunConfig, out: Path, resume: bool, show_progress: bool = True) -> None:
        self.config = config
        self.paths = RunPaths(Path(out))
        self.resume = resume
        self.show_progress = show_progress

    # -------------------------------------------------------------- setup
    def _build(self):
        import torch

        from agent.agent import Agent
        from agent.networks import MuZeroNetwork
        from envs.registry import get_game
        from selfplay.learner import Learner, resolve_device

        config = self.config
        self.game = get_game(config.game.name, **config.game.options)
        self.device = resolve_device(config.learner.device)
        torch.manual_seed(config.trainer.seed)
        self.rng = np.random.default_rng(config.trainer.seed)
        network = MuZeroNetwork(self.game, config.network)
        self.learner = Learner(network, config, self.device)
        self.replay = Replay.from_config(config)
        self.throttle = RatioThrottle.from_config(config)
        self.agent = Agent(self.learner.network, self.game, device=str(self.device))
        self.book = RunBook()
        if self.resume:
            self._restore(torch)
        self.session = self.book.session
        self.games_total = self.book.games_total

    def _restore(self, torch) -> None:
        """Weights, optimizer, counters, random streams and replay of the run in ``--out``."""
        checkpoint = resume_checkpoint(self.paths, self.game, self.learner.network)
        if checkpoint is not None:
            if checkpoint.optimizer:
                self.learner.load_optimizer_state(checkpoint.optimizer)
            self.learner.step = checkpoint.step
            extra = checkpoint.extra
            self.learner.samples_trained = int(extra.get("samples_trained", 0))
            self.book = RunBook.after(extra)
            if NUMPY_RNG_EXTRA in extra:
                self.rng.bit_generator.state = json.loads(extra[NUMPY_RNG_EXTRA])
            if TORCH_RNG_EXTRA in extra:
                torch.set_rng_state(extra[TORCH_RNG_EXTRA])
        self.replay.load(self.paths.replay)

    def _extra(self, elapsed: float) -> dict:
        import torch

        return self.book.extra(elapsed=elapsed, games_total=self.games_total,
                               samples_trained=self.learner.samples_trained,
                               positions_added=self.replay.positions_added,
                               numpy_rng=json.dumps(self.rng.bit_generator.state), torch_rng=torch.get_rng_state())

    def _start_actors(self):
        context = mp.get_context("spawn")
        self.game_queue = context.Queue(maxsize=GAME_QUEUE_SIZE)
        self.stop_event = context.Event()
        self.generated = context.Value("q", 0)
        self.budget = context.Value("d", float(self._actor_budget(0)))
        self.weight_queues = []
        self.processes = []
        weights = self.learner.weights()
        for actor_id in range(self.config.actor.num_actors):
            weights_queue = context.Queue(maxsize=1)
            seed_words = [self.config.trainer.seed, self.session, actor_id, 0x5E1F]
            process = context.Process(
                target=_actor_main, name=f"ponder-actor-{actor_id}", daemon=True,
                args=(actor_id, self.config, weights, seed_words, self.game_queue, weights_queue,
                      self.generated, self.budget, self.stop_event, os.getpid()))
            process.start()
            self.weight_queues.append(weights_queue)
            self.processes.append(process)

    def _stop_actors(self) -> None:
        if not getattr(self, "processes", None):
            return
        self.stop_event.set()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(p.is_alive() for p in self.processes):
            self._drain_queue(timeout=0.05, store=False)   # unblock actors stuck on a full queue
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for channel in [self.game_queue, *self.weight_queues]:
            channel.cancel_join_thread()
            channel.close()
        self.processes = []

    def _actor_budget(self, session_samples: int, delivered_positions: int = 0) -> float:
        """The value of the actors' ``generated`` counter at which they pause.

        ``generated`` counts every ply the actors have played this session, finished or not;
        the plies beyond ``delivered_positions`` are in flight and are added to the budget so
        that only delivered positions are held to the ratio (`selfplay.throttle`).
        """
        in_flight = max(0, self.generated.value - delivered_positions)
        return self.throttle.actor_limit(session_samples) + in_flight

    def _broadcast_weights(self) -> None:
        weights = self.learner.weights()
        for channel in self.weight_queues:
            try:
                channel.get_nowait()
            except queue.Empty:
                pass
            try:
                channel.put_nowait(weights)
            except queue.Full:
                pass

    def _drain_queue(self, timeout: float, store: bool = True) -> list[GameHistory]:
        received: list[GameHistory] = []
        block = timeout > 0
        while True:
            try:
                kind, actor_id, payload, stats = self.game_queue.get(block=block, timeout=timeout if block else None)
            except queue.Empty:
                break
            block = False
            if kind == "error":
                if store:
                    last = payload.strip().splitlines()[-1]
                    raise RuntimeError(f"actor {actor_id} failed: {last}\n{payload}")
                continue
            if store:
                received.extend(payload)
                self.actor_stats[actor_id] = stats
        return received

    # -------------------------------------------------------------- the loop
    def run(self) -> TrainSummary:
        import torch

        self._build()
        config = self.config
        trainer = config.trainer
        learner_threads = max(1, (os.cpu_count() or 1) - config.actor.num_actors)
        torch.set_num_threads(learner_threads)
        self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        write_toml(config, self.paths.config)

        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.paths.tensorboard), purge_step=self.learner.step if self.resume else None)
        monitor = _Monitor(writer, self.show_progress, trainer, self.learner.step)
        self.actor_stats: dict[int, dict] = {}
        start_step = self.learner.step
        session_samples = 0
        session_positions = 0
        session_games = 0
        started = time.monotonic()
        last_checkpoint = started
        last_eval = started
        evaluation: dict = {}
        stopped_by = "steps"
        batch_size = config.learner.batch_size
        search_quiet = dataclasses.replace(config.search, dirichlet_fraction=0.0, gumbel_noise=False)
        interrupted = InterruptFlag()
        self.processes = []
        try:
            interrupted.install()
            self._start_actors()
            monitor.start()
            while True:
                elapsed = time.monotonic() - started
                if interrupted.flag:
                    stopped_by = "interrupt"
                    break
                if trainer.max_steps and self.learner.step - start_step >= trainer.max_steps:
                    stopped_by = "steps"
                    break
                if trainer.max_minutes and elapsed >= trainer.max_minutes * 60:
                    stopped_by = "minutes"
                    break
                can_train = self.throttle.learner_steps(session_samples, session_positions,
                                                        self.replay.num_positions) > 0
                for game in self._drain_queue(timeout=0.0 if can_train else 0.05):
                    self.replay.add_game(game)
                    session_positions += game.length
                    session_games += 1
                    self.games_total += 1
                    monitor.add_game(game)
                self.budget.value = float(self._actor_budget(session_samples, session_positions))
                if not can_train:
                    if not any(p.is_alive() for p in self.processes):
                        raise RuntimeError("every actor process has exited")
                    monitor.refresh(self.learner.step, session_positions, session_games, self.replay, elapsed)
                    continue
                batch = self.replay.sample(batch_size, self.rng)
                reanalysed = 0
                if config.replay.reanalyse_fraction > 0:
                    from selfplay.learner import reanalyse

                    self.learner.network.eval()
                    batch, reanalysed = reanalyse(batch, self.replay, self.agent, self.game, search_quiet,
                                                  config.replay.reanalyse_fraction, self.rng)
                result = self.learner.train_step(batch, self.replay)
                session_samples += batch_size
                self.budget.value = float(self._actor_budget(session_samples, session_positions))
                if self.learner.step % trainer.weight_sync_steps == 0:
                    self._broadcast_weights()
                monitor.step(result, reanalysed)
                if self.learner.step % trainer.log_every_steps == 0:
                    monitor.log_rates(self.learner.step, session_positions, session_games, self.replay,
                                      self.actor_stats, elapsed)
                now = time.monotonic()
                if trainer.eval_minutes and now - last_eval >= trainer.eval_minutes * 60:
                    evaluation = self._evaluate()
                    monitor.log_evaluation(self.learner.step, evaluation)
                    last_eval = time.monotonic()
                if trainer.checkpoint_minutes and now - last_checkpoint >= trainer.checkpoint_minutes * 60:
                    save_run_checkpoint(self.paths, self.learner, self.replay, self.game, config,
                                        self._extra(now - started), trainer.keep_checkpoints)
                    last_checkpoint = time.monotonic()
                monitor.refresh(self.learner.step, session_positions, session_games, self.replay, elapsed)
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        finally:
            interrupted.uninstall()
            self._stop_actors()
            monitor.stop()
        elapsed = time.monotonic() - started
        if self.learner.step > start_step or not self.paths.latest.exists():
            if trainer.eval_games > 0:
                evaluation = self._evaluate()
                monitor.log_evaluation(self.learner.step, evaluation)
            save_run_checkpoint(self.paths, self.learner, self.replay, self.game, config,
                                self._extra(elapsed), trainer.keep_checkpoints)
        writer.close()
        return TrainSummary(step=self.learner.step, steps_this_session=self.learner.step - start_step,
                            samples_trained=session_samples, games=session_games, positions=session_positions,
                            seconds=elapsed, stopped_by=stopped_by, evaluation=evaluation,
                            checkpoint=self.paths.latest)

    def _evaluate(self) -> dict:
        from selfplay.evaluation import evaluate_run

        return evaluate_run(self.game, self.learner.network, self.agent, self.config, self.learner.step, self.device)


class _Monitor:
    """TensorBoard scalars and the rich progress line: the numbers a person watches."""

    def __init__(self, writer, show_progress: bool, trainer_config, start_step: int) -> None:
        self.writer = writer
        self.start_step = start_step
        self.line = ProgressLine(show_progress, "train", trainer_config.max_steps, trainer_config.max_minutes)
        self.window_games: list[GameHistory] = []
        self.parts_sum: dict[str, float] = {}
        self.parts_count = 0
        self.last_parts: dict[str, float] = {}
        self.last_rate_time = time.monotonic()
        self.last_rate_positions = 0
        self.last_rate_games = 0
        self.positions_per_second = 0.0
        self.games_per_minute = 0.0
        self.evaluation: dict = {}

    def start(self) -> None:
        self.line.start("starting actors")

    def stop(self) -> None:
        self.line.stop()

    def add_game(self, game: GameHistory) -> None:
        self.window_games.append(game)

    def step(self, result, reanalysed: int) -> None:
        for name, value in result.parts.items():
            self.parts_sum[name] = self.parts_sum.get(name, 0.0) + value
        self.parts_count += 1
        self.last_learning_rate = result.learning_rate
        self.reanalysed = reanalysed

    def log_rates(self, step: int, positions: int, games: int, replay: Replay, actor_stats: dict,
                  elapsed: float) -> None:
        writer = self.writer
        if self.parts_count:
            for name, total in self.parts_sum.items():
                self.last_parts[name] = total / self.parts_count
                writer.add_scalar(f"loss/{name}", total / self.parts_count, step)
            self.parts_sum, self.parts_count = {}, 0
        writer.add_scalar("learner/learning_rate", self.last_learning_rate, step)
        now = time.monotonic()
        window = now - self.last_rate_time
        if window >= 1.0:
            self.positions_per_second = (positions - self.last_rate_positions) / window
            self.games_per_minute = 60.0 * (games - self.last_rate_games) / window
            self.last_rate_time, self.last_rate_positions, self.last_rate_games = now, positions, games
            writer.add_scalar("selfplay/positions_per_second", self.positions_per_second, step)
            writer.add_scalar("selfplay/games_per_minute", self.games_per_minute, step)
        writer.add_scalar("replay/positions", replay.num_positions, step)
        writer.add_scalar("replay/games", len(replay), step)
        if self.window_games:
            games_window = self.window_games
            self.window_games = []
            lengths = np.array([g.length + g.opening.shape[0] for g in games_window], dtype=np.float64)
            writer.add_scalar("selfplay/game_length", float(lengths.mean()), step)
            first_wins = second_wins = draws = 0
            for g in games_window:
                winner_reward = float(g.rewards[-1])
                if winner_reward == 0.0:
                    draws += 1
                elif (int(g.to_play[-1]) == 0) == (winner_reward > 0):
                    first_wins += 1
                else:
                    second_wins += 1
            count = len(games_window)
            writer.add_scalar("selfplay/outcome_first_player_wins", first_wins / count, step)
            writer.add_scalar("selfplay/outcome_second_player_wins", second_wins / count, step)
            writer.add_scalar("selfplay/outcome_draws", draws / count, step)
            root_values = np.concatenate([g.root_values[:1] for g in games_window])
            writer.add_scalar("selfplay/root_value_first_position", float(root_values.mean()), step)
            policies = np.concatenate([g.policies for g in games_window])
            entropy = -(policies * np.log(np.clip(policies, 1e-12, None))).sum(axis=1)
            writer.add_scalar("selfplay/policy_entropy", float(entropy.mean()), step)
        if actor_stats:
            total = sum(s["seconds_total"] for s in actor_stats.values())
            search = sum(s["seconds_in_search"] for s in actor_stats.values())
            if total > 0:
                writer.add_scalar("selfplay/search_share_of_actor_time", search / total, step)

    def log_evaluation(self, step: int, evaluation: dict) -> None:
        self.evaluation = evaluation
        log_evaluation(self.writer, step, evaluation)

    def refresh(self, step: int, positions: int, games: int, replay: Replay, elapsed: float) -> None:
        if not self.line.due():
            return
        steps_done = step - self.start_step
        parts = run_parts(step, steps_done, elapsed, self.positions_per_second, games, replay.num_positions,
                          self.last_parts.get("total"))
        if "optimal_moves/search" in self.evaluation:
            parts.append(f"optimal {self.evaluation['optimal_moves/search']:.1%}")
        self.line.update(parts, steps_done, elapsed)
