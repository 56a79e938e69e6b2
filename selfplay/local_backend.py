"""The local training backend: actor processes feeding one learner in this process.

A `selfplay.session.TrainingSession` runs it (`ponder train`, the default backend); this is
the only module that knows about processes. The main process hosts the `Replay` and the
`Learner`; each actor process hosts an `Actor` (spawn context, one torch thread)
and plays many games at once. Finished games come back through one bounded queue; new
weights go out through a one-slot queue per actor every ``weight_sync_steps`` learner
steps. A target ratio of training samples per generated position is held by throttling
whichever side is ahead (`selfplay.throttle`): the learner waits for positions, and actors
wait while the positions they have delivered are more than ``ratio_slack_positions`` (at
least one batch's worth) ahead of what the learner has consumed. Plies of games still in
play do not count against that slack: many actors hold many unfinished games, and counting
them could stall every actor before a single game reached the replay (a deadlock that 14
actors hit on a 16-core machine).

Actors exit on their own when their parent disappears, so a killed trainer leaves no
orphans. Resume, checkpoints, stop rules and the monitor are the session's.
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

import numpy as np

from agent.checkpoint import NUMPY_RNG_EXTRA, TORCH_RNG_EXTRA
from selfplay.config import RunConfig
from selfplay.progress import Advance, Counters, FinishedGame, TrainChunk
from selfplay.replay import GameHistory, Replay
from selfplay.session import LearnerSnapshot, SessionStart
from selfplay.throttle import RatioThrottle

GAME_QUEUE_SIZE = 256


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
                actor.new_weights()
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


# ----------------------------------------------------------------------------- the backend

class LocalBackend:
    """Actors in processes of this machine, the learner and the replay in this process."""

    label = "train"

    # -------------------------------------------------------------- start
    def start(self, start: SessionStart) -> str:
        import torch

        from agent.agent import Agent
        from selfplay.learner import Learner, resolve_device

        config = self.config = start.config
        self.session = start.session
        self.game = start.game
        self.device = resolve_device(config.learner.device)
        self.rng = np.random.default_rng(config.trainer.seed)
        self.learner = Learner(start.network, config, self.device)
        self.replay = Replay.from_config(config)
        self.throttle = RatioThrottle.from_config(config)
        self.agent = Agent(self.learner.network, self.game, device=str(self.device))
        self.search_quiet = dataclasses.replace(config.search, dirichlet_fraction=0.0, gumbel_noise=False)
        if start.checkpoint is not None:
            self._restore(start.checkpoint, torch)
        if start.resume:
            self.replay.load(start.paths.replay)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - config.actor.num_actors))
        self.samples = self.positions = self.games = 0
        self.actor_stats: dict[int, dict] = {}
        self.processes: list = []
        self._start_actors()
        return "starting actors"

    def _restore(self, checkpoint, torch) -> None:
        """Optimizer, step, counters and random streams of the checkpoint resumed from."""
        if checkpoint.optimizer:
            self.learner.load_optimizer_state(checkpoint.optimizer)
        self.learner.step = checkpoint.step
        extra = checkpoint.extra
        self.learner.samples_trained = int(extra.get("samples_trained", 0))
        if NUMPY_RNG_EXTRA in extra:
            self.rng.bit_generator.state = json.loads(extra[NUMPY_RNG_EXTRA])
        if TORCH_RNG_EXTRA in extra:
            torch.set_rng_state(extra[TORCH_RNG_EXTRA])

    def _start_actors(self) -> None:
        context = mp.get_context("spawn")
        self.game_queue = context.Queue(maxsize=GAME_QUEUE_SIZE)
        self.stop_event = context.Event()
        self.generated = context.Value("q", 0)
        self.budget = context.Value("d", float(self.throttle.actor_limit(self.samples)))
        self.weight_queues = []
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

    # -------------------------------------------------------------- the work
    def advance(self, steps_left: int | None) -> Advance:
        """Store the games that finished, then one learner step if the ratio allows it."""
        can_train = self.throttle.learner_steps(self.samples, self.positions, self.replay.num_positions) > 0
        advance = Advance()
        for game in self._drain_queue(timeout=0.0 if can_train else 0.05):
            self.replay.add_game(game)
            self.positions += game.length
            self.games += 1
            advance.games.append(FinishedGame.of(game))
        advance.actor_stats = dict(self.actor_stats)
        self.budget.value = float(self._actor_budget())
        if not can_train:
            if not any(process.is_alive() for process in self.processes):
                raise RuntimeError("every actor process has exited")
            return advance
        started = time.perf_counter()
        batch = self.replay.sample(self.config.learner.batch_size, self.rng)
        reanalysed = 0
        if self.config.replay.reanalyse_fraction > 0:
            from selfplay.learner import reanalyse

            self.learner.network.eval()
            batch, reanalysed = reanalyse(batch, self.replay, self.agent, self.game, self.search_quiet,
                                          self.config.replay.reanalyse_fraction, self.rng)
        result = self.learner.train_step(batch, self.replay)
        self.samples += self.config.learner.batch_size
        self.budget.value = float(self._actor_budget())
        if self.learner.step % self.config.trainer.weight_sync_steps == 0:
            self._broadcast_weights()
        advance.chunks.append(TrainChunk(step=self.learner.step, steps=1, parts=result.parts,
                                         learning_rate=result.learning_rate,
                                         seconds=time.perf_counter() - started, reanalysed=reanalysed))
        return advance

    def counters(self) -> Counters:
        return Counters(step=self.learner.step, samples=self.samples, positions=self.positions, games=self.games,
                        replay_positions=self.replay.num_positions, replay_games=len(self.replay))

    def _actor_budget(self) -> float:
        """The value of the actors' ``generated`` counter at which they pause.

        ``generated`` counts every ply the actors have played this session, finished or not;
        the plies beyond the delivered positions are in flight and are added to the budget so
        that only delivered positions are held to the ratio (`selfplay.throttle`).
        """
        in_flight = max(0, self.generated.value - self.positions)
        return self.throttle.actor_limit(self.samples) + in_flight

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

    # -------------------------------------------------------------- checkpoints and evaluation
    def snapshot(self) -> LearnerSnapshot:
        import torch

        return LearnerSnapshot(network=self.learner.network, step=self.learner.step,
                               optimizer=self.learner.optimizer_state(),
                               samples_trained=self.learner.samples_trained,
                               positions_added=self.replay.positions_added,
                               numpy_rng=json.dumps(self.rng.bit_generator.state),
                               torch_rng=torch.get_rng_state(), replay=self.replay)

    def evaluation_agent(self):
        return self.agent

    # -------------------------------------------------------------- stop
    def finish(self) -> Advance:
        """Stop the actors; games still in their queue are dropped (they were not counted)."""
        self.close()
        return Advance()

    def close(self) -> None:
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
