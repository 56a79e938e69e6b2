"""Ray actor hosts for the local backend's `Actor`, `Replay` and `Learner`, unchanged.

Each class here is a thin shell that a Ray actor process builds once and then calls: it
owns one of the plain classes (`selfplay.actor.Actor`, `selfplay.replay.Replay`,
`selfplay.learner.Learner`) and turns its methods into coarse remote calls, so that a
call carries enough work (several moves, several learner steps) to hide Ray's per-call
cost. The driver (`selfplay.ray_backend`) decides what runs when; nothing here loops on
its own. Weights travel as one object in Ray's object store per published version: the
learner returns them from `publish_weights` and every self-play host fetches that object
only when its version changes.

Fault behaviour: a self-play host restarted by Ray starts fresh games with the weights it
was built with and picks up the current ones on its next call; a replay host restarted by
Ray reloads the last `games.npz` the run saved (it loses only the unsaved tail); the
learner is not restarted (a lost learner ends the run; `--resume` continues from the last
checkpoint).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import ray

from selfplay.config import RunConfig
from selfplay.progress import FinishedGame, TrainChunk

REPLAY_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class PlayReport:
    """What one `SelfPlayHost.play` call did.

    positions: positions played (one per game per move), finished: the games that finished
    and were stored in replay, stats: the hosted Actor's `ActorStats` as a dict (counters
    since that host started), weights_version: the weights version the moves were played with.
    """

    actor_id: int
    positions: int
    finished: tuple[FinishedGame, ...]
    stats: dict
    weights_version: int


def _call_replay(method, *args):
    """``ray.get(method.remote(*args))``, retried while a restarted replay host comes back."""
    deadline = time.monotonic() + REPLAY_RETRY_SECONDS
    while True:
        try:
            return ray.get(method.remote(*args))
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ----------------------------------------------------------------------------- replay

class ReplayHost:
    """Hosts one `Replay` and the random generator that samples from it.

    ``folder`` is the run's ``replay/`` folder on the driver's node (the host is pinned
    there). ``load`` restores it at start (``--resume``); a host that Ray restarts after a
    crash always reloads it, so it loses at most what was added since the last save.
    """

    def __init__(self, config: RunConfig, folder: str, load: bool, seed_words: list[int]) -> None:
        from selfplay.replay import Replay

        self.folder = Path(folder)
        self.replay = Replay.from_config(config)
        self.rng = np.random.default_rng(np.random.SeedSequence(seed_words))
        self.restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        if load or self.restarted:
            self.replay.load(self.folder)

    def add_games(self, games: list) -> int:
        for game in games:
            self.replay.add_game(game)
        return self.replay.num_positions

    def sample(self, batch_size: int):
        return self.replay.sample(batch_size, self.rng)

    def update_priorities(self, game_ids, positions, priorities) -> None:
        self.replay.update_priorities(game_ids, positions, priorities)

    def game(self, game_id: int):
        return self.replay.game(game_id)

    def update_search(self, game_id: int, position: int, policy, root_value: float) -> None:
        self.replay.update_search(game_id, position, policy, root_value)

    def save(self) -> str:
        return str(self.replay.save(self.folder))

    def counters(self) -> dict:
        return {"positions": self.replay.num_positions, "games": len(self.replay),
                "positions_added": self.replay.positions_added, "games_added": self.replay.games_added,
                "restarted": self.restarted}

    def rng_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


class ReplayClient:
    """The slice of the `Replay` interface the `Learner` and `reanalyse` use, over Ray.

    `Learner.train_step(batch, replay)` and `selfplay.learner.reanalyse` take a replay
    object; this one forwards their calls to the `ReplayHost`, so those functions run in
    a Ray actor unchanged. Priority updates are sent without waiting for them.
    """

    def __init__(self, handle, priority_alpha: float) -> None:
        self.handle = handle
        self.priority_alpha = priority_alpha

    def update_priorities(self, game_ids, positions, priorities) -> None:
        self.handle.update_priorities.remote(game_ids, positions, priorities)

    def game(self, game_id: int):
        return _call_replay(self.handle.game, game_id)

    def update_search(self, game_id: int, position: int, policy, root_value: float) -> None:
        self.handle.update_search.remote(game_id, position, policy, root_value)


# ----------------------------------------------------------------------------- self-play

class SelfPlayHost:
    """Hosts one `Actor` (its `Agent` on ``device``) and sends its finished games to replay."""

    def __init__(self, actor_id: int, config: RunConfig, weights: dict, seed_words: list[int],
                 replay, device: str, torch_threads: int) -> None:
        import torch

        from agent.agent import Agent
        from agent.networks import MuZeroNetwork
        from envs.registry import get_game
        from selfplay.actor import Actor

        torch.set_num_threads(max(1, torch_threads))
        self.torch = torch
        self.actor_id = actor_id
        self.replay = replay
        game = get_game(config.game.name, **config.game.options)
        self.network = MuZeroNetwork(game, config.network)
        self._load(weights)
        self.agent = Agent(self.network, game, device=device)
        words = list(seed_words)
        if ray.get_runtime_context().was_current_actor_reconstructed:
            words.append(os.getpid())          # a restarted host must not replay the same games
        self.actor = Actor(game, self.agent, config.search, config.actor,
                           np.random.default_rng(np.random.SeedSequence(words)))
        self.weights_version = -1

    def _load(self, weights: dict) -> None:
        torch = self.torch
        self.network.load_state_dict({name: torch.as_tensor(np.array(array)) for name, array in weights.items()})
        self.network.eval()

    def play(self, moves: int, weights_version: int, weights_box: list) -> PlayReport:
        """Play ``moves`` moves in every game; ``weights_box`` is ``[ObjectRef]`` of the weights."""
        if weights_version != self.weights_version:
            self._load(ray.get(weights_box[0]))
            self.weights_version = weights_version
            self.actor.new_weights()
        finished = []
        positions = 0
        batch = len(self.actor.games)
        for _ in range(moves):
            finished.extend(self.actor.play_move())
            positions += batch
        if finished:
            _call_replay(self.replay.add_games, finished)
        return PlayReport(actor_id=self.actor_id, positions=positions,
                          finished=tuple(FinishedGame.of(game) for game in finished),
                          stats=asdict(self.actor.stats()), weights_version=self.weights_version)

    def pid(self) -> int:
        return os.getpid()


# ----------------------------------------------------------------------------- learner

class LearnerHost:
    """Hosts the `Learner` (on ``device``), pulling batches straight from the replay host.

    Mixed precision is the learner's own (``learner.precision``), as in the local trainer.
    """

    def __init__(self, config: RunConfig, device: str, replay, seed: int, torch_threads: int) -> None:
        import torch

        from agent.agent import Agent
        from agent.networks import MuZeroNetwork
        from envs.registry import get_game
        from selfplay.learner import Learner, resolve_device

        torch.set_num_threads(max(1, torch_threads))
        torch.manual_seed(seed)
        self.torch = torch
        self.config = config
        self.game = get_game(config.game.name, **config.game.options)
        self.device = resolve_device(device)
        self.learner = Learner(MuZeroNetwork(self.game, config.network), config, self.device)
        self.replay = replay
        self.client = ReplayClient(replay, config.replay.priority_alpha)
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7EA4]))
        self.agent = Agent(self.learner.network, self.game, device=str(self.device)) \
            if config.replay.reanalyse_fraction > 0 else None

    def device_name(self) -> str:
        return str(self.device)

    def restore(self, model: dict, optimizer: dict | None, step: int, samples_trained: int,
                torch_rng=None) -> int:
        self.learner.network.load_state_dict(model)
        if optimizer:
            self.learner.load_optimizer_state(optimizer)
        self.learner.step = int(step)
        self.learner.samples_trained = int(samples_trained)
        if torch_rng is not None:
            self.torch.set_rng_state(torch_rng)
        return self.learner.step

    def train(self, steps: int) -> TrainChunk:
        """Run ``steps`` optimizer steps on fresh replay batches (the next one prefetched)."""
        import dataclasses

        from selfplay.learner import reanalyse

        started = time.perf_counter()
        config = self.config
        batch_size = config.learner.batch_size
        search_quiet = dataclasses.replace(config.search, dirichlet_fraction=0.0, gumbel_noise=False)
        parts_sum: dict[str, float] = {}
        learning_rate = 0.0
        reanalysed = 0
        pending = self.replay.sample.remote(batch_size)
        for index in range(steps):
            batch = self._get_batch(pending, batch_size)
            if index + 1 < steps:
                pending = self.replay.sample.remote(batch_size)
            if config.replay.reanalyse_fraction > 0:
                self.learner.network.eval()
                batch, rows = reanalyse(batch, self.client, self.agent, self.game, search_quiet,
                                        config.replay.reanalyse_fraction, self.rng)
                reanalysed += rows
            result = self._step(batch)
            learning_rate = result.learning_rate
            for name, value in result.parts.items():
                parts_sum[name] = parts_sum.get(name, 0.0) + float(value)
        return TrainChunk(step=self.learner.step, steps=steps,
                          parts={name: total / max(1, steps) for name, total in parts_sum.items()},
                          learning_rate=learning_rate, seconds=time.perf_counter() - started, reanalysed=reanalysed)

    def _get_batch(self, pending, batch_size: int):
        try:
            return ray.get(pending)
        except ray.exceptions.RayActorError:
            return _call_replay(self.replay.sample, batch_size)   # the replay host is restarting

    def _step(self, batch):
        return self.learner.train_step(batch, self.client)

    def publish_weights(self) -> dict:
        """The network's weights as numpy arrays: returned into the object store, once per version."""
        return self.learner.weights()

    def checkpoint_state(self) -> dict:
        """Everything `save_run_checkpoint` needs from the learner, as CPU tensors."""
        torch = self.torch

        def to_cpu(value):
            if isinstance(value, torch.Tensor):
                return value.detach().cpu()
            if isinstance(value, dict):
                return {key: to_cpu(item) for key, item in value.items()}
            if isinstance(value, list):
                return [to_cpu(item) for item in value]
            return value

        return {"model": to_cpu(self.learner.network.state_dict()),
                "optimizer": to_cpu(self.learner.optimizer_state()),
                "step": self.learner.step, "samples_trained": self.learner.samples_trained,
                "torch_rng": torch.get_rng_state()}
