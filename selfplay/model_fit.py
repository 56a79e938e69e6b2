"""Fit a trained network's learned model, h and f frozen (the losses: `agent.model_fit`).

`fit_checkpoint` takes a checkpoint and the games of its run's replay, rebuilds every stored
position with the rules (`PathSampler`), and trains g, the reward head and the action heads
for a wall-clock budget (`fit_network`) on paths that follow the games played and branch off
them (uniformly random legal moves, or moves from the network's prior with
``model_fit.prior`` > 0), the positions a search expands. The result is a checkpoint whose
agent searches its learned model: ``extra["model_fit_steps"]`` says it was fitted (so
`Agent.learned_model_trained` holds) and its config gains the fit's ``model_fit`` section.

Used by ``ponder fit-model`` and by a recipe's ``[model_fit]`` phase after self-play (`fit_run`).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from agent.model_fit import (ModelFitBatch, ModelFitWeights, board_fit_fidelity, model_fit_loss, model_parameters,
                             set_fit_modes)
from agent.networks import MuZeroNetwork
from envs.game import Game, State, mover_reward
from selfplay.board_pretrain import keep_the_more_exact, pretrain_board_dynamics
from selfplay.config import ModelFitConfig
from selfplay.fit_budget import FitBudget, FitProgress, cosine_scale


class PathSampler:
    """Every stored position of a replay as a `State`, and random paths from them."""

    def __init__(self, game: Game, games, rng: np.random.Generator) -> None:
        """``games``: `GameHistory` objects (their openings and actions rebuild the positions)."""
        self.game = game
        self.rng = rng
        self.states: list[State] = []
        self.played: list[int] = []     # the move played at each position
        self.next_index: list[int] = []  # index of the position it led to, -1 at a game's end
        self.finals: list[tuple[State, int]] = []   # each game's last position and its `END_*` class
        for history in games:
            state = game.initial_state()
            for action in history.opening.tolist():
                state = state.play(int(action))
            for position, action in enumerate(history.actions.tolist()):
                self.states.append(state)
                self.played.append(int(action))
                last = position + 1 == history.length
                self.next_index.append(-1 if last else len(self.states))
                before, state = state, state.play(int(action))
            if history.length and state.is_terminal():     # the rules' label of the last move
                self.finals.append((state, int(before.action_ends()[history.actions[-1]])))
        if not self.states:
            from envs.errors import UsageError

            raise UsageError("the replay holds no positions to fit the model on: train longer first")
        shape = self.states[0].planes().shape
        self.planes_shape = tuple(int(size) for size in shape)
        self.num_actions = int(self.states[0].legal_mask().shape[0])

    def __len__(self) -> int:
        return len(self.states)

    def _priors(self, network: MuZeroNetwork, states: list[State | None]) -> np.ndarray:
        planes = np.zeros((len(states), *self.planes_shape), dtype=np.float32)
        for row, state in enumerate(states):
            if state is not None and not state.is_terminal():
                planes[row] = state.planes()
        modes = [(module, module.training) for module in network.modules()]
        network.eval()                  # h and f's BatchNorm statistics must not move
        with torch.no_grad():
            logits, _ = network.predict(network.represent(torch.from_numpy(planes)))
        for module, training in modes:
            module.train(training)
        return F.softmax(logits.float(), -1).numpy().astype(np.float64)

    def end_examples(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(planes ``[M, C, H, W]``, `END_*` classes ``[M]``) for the end detector: every
        position one legal move after ``count`` stored positions, labelled by the rules
        (`State.action_ends`: how the move ends the game for its mover), and ``count // 4`` games'
        last positions. These are what the search asks the detector about, one move after a
        node, with the wins in one and the near misses beside them; a path meets an end only
        every twentieth position or so."""
        rng = self.rng
        planes, classes = [], []
        for index in rng.integers(0, len(self.states), count):
            state = self.states[index]
            codes = state.action_ends()
            for action in state.legal_actions():
                planes.append(state.play(action).planes())
                classes.append(int(codes[action]))
        for index in rng.integers(0, len(self.finals), count // 4) if self.finals else ():
            final, code = self.finals[index]
            planes.append(final.planes())
            classes.append(code)
        return (torch.from_numpy(np.stack(planes).astype(np.float32)),
                torch.from_numpy(np.array(classes, dtype=np.int64)))

    def sample(self, network: MuZeroNetwork, paths: int, steps: int, follow: float, prior: float,
               end_examples: int = 0) -> ModelFitBatch:
        """``paths`` paths of ``steps`` moves from uniformly drawn stored positions (and
        ``end_examples`` of `end_examples` for the end detector)."""
        rng = self.rng
        actions_count = self.num_actions
        planes = np.zeros((steps + 1, paths, *self.planes_shape), dtype=np.float32)
        actions = np.zeros((steps, paths), dtype=np.int64)
        alive = np.zeros((steps + 1, paths), dtype=np.float32)
        rewards = np.zeros((steps, paths), dtype=np.float32)
        legal = np.zeros((steps + 1, paths, actions_count), dtype=np.float32)
        ends = np.zeros((steps + 1, paths, actions_count), dtype=np.int64)
        index = rng.integers(0, len(self.states), paths)
        current: list[State | None] = [self.states[i] for i in index]
        on_game = [int(i) for i in index]     # stored index while the path follows its game, else -1
        for step in range(steps + 1):
            priors = self._priors(network, current) if prior > 0 and step < steps else None
            for row, state in enumerate(current):
                if state is None:
                    continue
                planes[step, row] = state.planes()
                if state.is_terminal():
                    current[row] = None
                    continue
                alive[step, row] = 1.0
                mask = state.legal_mask()
                legal[step, row] = mask
                ends[step, row] = state.action_ends()
                if step == steps:
                    continue
                here = on_game[row]
                if here >= 0 and rng.random() < follow:
                    action = self.played[here]
                    on_game[row] = self.next_index[here]
                else:
                    on_game[row] = -1
                    if priors is not None and rng.random() < prior:
                        weights = priors[row] * mask
                        action = int(rng.choice(actions_count, p=weights / weights.sum()))
                    else:
                        moves = np.flatnonzero(mask)
                        action = int(moves[rng.integers(moves.size)])
                actions[step, row] = action
                after = state.play(action)
                rewards[step, row] = mover_reward(after, state.to_play)
                current[row] = after
        tensor = torch.from_numpy
        end_planes, end_classes = self.end_examples(end_examples) if end_examples else (None, None)
        return ModelFitBatch(planes=tensor(planes), actions=tensor(actions), alive=tensor(alive),
                             rewards=tensor(rewards), legal=tensor(legal), ends=tensor(ends),
                             end_planes=end_planes, end_classes=end_classes)


def fit_network(network: MuZeroNetwork, sampler: PathSampler, config: ModelFitConfig,
                report: Callable[[FitProgress], None] | None = None, report_every: int = 50,
                should_stop: Callable[[], bool] | None = None, steps: int | None = None) -> FitProgress:
    """Train ``network``'s model (in place) for ``config.minutes``, or for ``steps`` optimizer
    steps when given (tests and benchmarks: the same work on any machine); h and f stay as
    they are."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    trained = model_parameters(network)
    # the end detector trains here with g, or on its own afterwards (`fit_detector_phase`)
    joint_detector = network.board_ends is not None and config.board_ends_minutes == 0
    detector = {id(parameter) for parameter in network.board_ends.parameters()} if network.board_ends is not None \
        else set()
    groups = [{"params": [p for p in trained if id(p) not in detector], "base_lr": config.learning_rate},
              {"params": [p for p in trained if id(p) in detector] if joint_detector else [],
               "base_lr": config.board_ends_learning_rate}]
    optimizer = torch.optim.AdamW([group for group in groups if group["params"]], lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    weights = ModelFitWeights(hidden=config.hidden_weight, end_positive=config.end_positive_weight)
    progress = FitProgress()
    # a fixed set of paths on which each report measures the board model against the real game
    probe = sampler.sample(network, config.batch, config.unroll_steps, config.follow, config.prior) \
        if network.board_model and report is not None else None
    budget = FitBudget(config.minutes, steps)
    set_fit_modes(network)
    while not (should_stop and should_stop()):
        fraction = budget.fraction(progress.steps)
        if fraction is None:
            break
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * cosine_scale(fraction)
        batch = sampler.sample(network, config.batch, config.unroll_steps, config.follow, config.prior,
                               end_examples=config.batch // 4 if joint_detector else 0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            loss, parts = model_fit_loss(network, batch, weights, fit_detector=joint_detector)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.steps += 1
        progress.parts = parts
        progress.seconds = budget.elapsed()
        if report is not None and progress.steps % report_every == 0:
            if probe is not None:
                # a detector that trains later, on its own, is not read here
                progress.parts = {**parts, **{f"probe_{name}": value
                                              for name, value in board_fit_fidelity(network, probe).items()
                                              if joint_detector or not name.startswith("ends_")}}
                set_fit_modes(network)
            report(progress)
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    network.eval()
    return progress


def fitted_config(run_config: dict, config: ModelFitConfig) -> dict:
    """The run config a fitted checkpoint carries: the run's, with the fit's settings as its
    ``model_fit`` section (the checkpoint's ``extra["model_fit_steps"]`` says it was fitted)."""
    result = {name: (dict(section) if isinstance(section, dict) else section) for name, section in run_config.items()}
    result["model_fit"] = asdict(config)
    return result


def network_to_fit(checkpoint, config: ModelFitConfig) -> MuZeroNetwork:
    """A network with the checkpoint's h and f and a fresh model of ``config``'s size (g and the
    reward head, and the action heads unless ``config.keep_heads`` finds the checkpoint's own of
    the same shape): the fit does not depend on whether or how the run trained a model. The
    fresh model's initialisation follows ``config.seed`` (before 2026-12-06 it followed whatever
    the process had drawn before: ``ponder fit-model --seed`` did not reach it)."""
    from agent.config import NetworkConfig
    from agent.model_fit import MODEL_MODULES
    from agent.networks import GameSpec

    torch.manual_seed(config.seed)

    values = {**checkpoint.network_config, "action_heads": True, "dynamics_blocks": config.dynamics_blocks,
              "dynamics": config.dynamics, "action_head_layers": config.action_head_layers,
              "action_head_channels": config.action_head_channels,
              "action_head_output": config.action_head_output, "board_ends": config.board_ends}
    network = MuZeroNetwork(GameSpec(checkpoint.observation_shape, checkpoint.num_actions),
                            NetworkConfig.from_dict(values))
    fresh = set(MODEL_MODULES)
    shapes = {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()}
    heads = {name: tensor for name, tensor in checkpoint.model.items() if name.startswith("action_heads.")}
    if config.keep_heads and heads and all(shapes.get(name) == tuple(tensor.shape) for name, tensor in heads.items()) \
            and {name for name in shapes if name.startswith("action_heads.")} == set(heads):
        fresh.discard("action_heads")
    kept = {name: tensor for name, tensor in checkpoint.model.items() if name.split(".")[0] not in fresh}
    missing, unexpected = network.load_state_dict(kept, strict=False)
    stray = [name for name in missing if name.split(".")[0] not in fresh]
    if stray or unexpected:
        raise ValueError(f"the checkpoint's h and f do not fit the network ({(stray or unexpected)[0]})")
    return network


def load_replay_games(folder: Path) -> list:
    """The `GameHistory` objects of ``folder/replay`` (a run folder) or of ``folder`` itself;
    UsageError when there is no replay there (`ReplayError` when it is damaged)."""
    from envs.errors import UsageError
    from selfplay.replay import Replay

    replay = Replay(capacity_positions=1 << 62, unroll_steps=0)
    folder = Path(folder)
    for candidate in (folder / "replay", folder):
        if replay.load(candidate):
            return replay.games()
    raise UsageError(f"{folder}: no replay/games.npz (give the run folder whose self-play games to fit on)")


def fit_checkpoint(checkpoint, games, config: ModelFitConfig,
                   report: Callable[[FitProgress], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> tuple[dict, FitProgress]:
    """(checkpoint payload of the fitted network, how the fit went) from a loaded `Checkpoint`."""
    from agent.agent import checkpoint_play_root
    from agent.checkpoint import make_payload
    from agent.player import PLAY_ROOT_EXTRA
    from agent.roots import Root
    from envs import get_game

    game = get_game(checkpoint.game, **checkpoint.game_options)
    network = network_to_fit(checkpoint, config)
    sampler = PathSampler(game, games, np.random.default_rng(config.seed))
    pretrained = pretrain_board_dynamics(network, sampler, config, report, should_stop=should_stop) \
        if config.board_pretrain_minutes > 0 else None
    progress = fit_network(network, sampler, config, report=report, should_stop=should_stop)
    extra = {**checkpoint.extra, "model_fit_steps": progress.steps, "model_fit_seconds": round(progress.seconds, 1),
             "model_fit_positions": len(sampler)}
    if pretrained is not None:
        extra.update(pretrained.bookkeeping)
        extra.update(keep_the_more_exact(network, pretrained, report))
    if network.board_ends is not None and config.board_ends_minutes > 0 and not (should_stop and should_stop()):
        extra.update(fit_detector_phase(network, game, config, _replay_symmetries(checkpoint.config), report,
                                        should_stop))
    # the fitted agent plays over its learned model by default, with the run's selection rule
    played = checkpoint_play_root(checkpoint.extra)
    selection = Root.parse(played).selection if played else "puct"
    extra[PLAY_ROOT_EXTRA] = str(Root(selection, "learned"))
    payload = make_payload(network, game, config=fitted_config(checkpoint.config, config), step=checkpoint.step,
                           extra=extra)
    return payload, progress


def _replay_symmetries(run_config: dict) -> str:
    """The run's ``replay.symmetries`` ("none" when absent): the detector's examples use them too."""
    section = run_config.get("replay") if isinstance(run_config, dict) else None
    value = section.get("symmetries") if isinstance(section, dict) else None
    return value if isinstance(value, str) else "none"


def fit_detector_phase(network: MuZeroNetwork, game: Game, config: ModelFitConfig, symmetries: str,
                       report: Callable[[FitProgress], None] | None = None,
                       should_stop: Callable[[], bool] | None = None, steps: int | None = None) -> dict:
    """Train the end detector alone on positions the rules generate (`selfplay.end_detector`)
    for ``config.board_ends_minutes`` (or ``steps``), then check it on fresh positions; returns
    the checkpoint's bookkeeping. A detector under `end_detector.TRUSTED` there is removed
    from ``network`` (its search then reads the heads' ends, as without one) and the
    bookkeeping says why: a two-hour run is not thrown away for it, nor is a detector that
    misreads ends trusted by the learned tree."""
    from selfplay.end_detector import DETECTOR_LEARNING_RATE, TRUSTED, check_end_detector, fit_end_detector

    def forward(progress) -> None:
        if report is not None:
            report(FitProgress(progress.steps, progress.seconds, {"loss": progress.loss, "examples": progress.examples},
                               phase="end detector"))

    detector = fit_end_detector(network, game, minutes=None if steps is not None else config.board_ends_minutes,
                                steps=steps, examples=config.board_ends_examples,
                                learning_rate=DETECTOR_LEARNING_RATE, symmetries=symmetries,
                                seed=config.seed, report=forward, should_stop=should_stop)
    network.eval()
    check = check_end_detector(network.board_ends, game, np.random.default_rng([config.seed, 1]))
    bookkeeping = {"board_ends_steps": detector.steps, "board_ends_examples": detector.examples,
                   "board_ends_seconds": round(detector.seconds, 1), "board_ends_check_positions": check.positions,
                   "board_ends_check_precision": round(check.precision, 5),
                   "board_ends_check_recall": round(check.recall, 5), "board_ends_kept": check.trusted}
    if check.trusted:
        verdict = f"end detector kept: {check.describe()}"
    else:
        network.board_ends = None
        network.config = replace(network.config, board_ends=False)
        verdict = (f"end detector NOT kept after {detector.steps} steps: {check.describe()}, under "
                   f"{TRUSTED:.0%}; the search reads the heads' ends (give the detector more minutes)")
    if report is not None:
        report(FitProgress(detector.steps, detector.seconds, phase="end detector", note=verdict))
    return bookkeeping


def add_end_detector(checkpoint, config: ModelFitConfig, report: Callable[[FitProgress], None] | None = None,
                     steps: int | None = None) -> dict:
    """The checkpoint payload of ``checkpoint`` (a fitted board model) with an end detector
    trained on generated positions for ``config.board_ends_minutes`` (or ``steps``); g, the
    heads, h and f are kept as they are (``ponder fit-model --detector-only``)."""
    from agent.agent import model_fitted
    from agent.checkpoint import make_payload
    from agent.config import NetworkConfig
    from agent.networks import GameSpec
    from envs import get_game
    from envs.errors import UsageError
    from selfplay.end_detector import TRUSTED

    if checkpoint.network_config.get("dynamics") != "board" or not model_fitted(checkpoint.extra):
        raise UsageError(f"{checkpoint.path}: an end detector reads a fitted board model's planes; "
                         "fit the model first (ponder fit-model, or a recipe with [model_fit] dynamics = board)")
    game = get_game(checkpoint.game, **checkpoint.game_options)
    values = {**checkpoint.network_config, "board_ends": True}
    network = MuZeroNetwork(GameSpec(checkpoint.observation_shape, checkpoint.num_actions),
                            NetworkConfig.from_dict(values))
    fresh = [name for name in network.state_dict() if name.startswith("board_ends.")]
    kept = {name: tensor for name, tensor in checkpoint.model.items() if not name.startswith("board_ends.")}
    missing, unexpected = network.load_state_dict(kept, strict=False)
    if set(missing) != set(fresh) or unexpected:
        raise UsageError(f"{checkpoint.path}: its weights do not fit its network config")
    extra = {**checkpoint.extra, **fit_detector_phase(network, game, config, _replay_symmetries(checkpoint.config),
                                                       report, steps=steps)}
    if not extra["board_ends_kept"]:
        raise UsageError(f"the end detector reached precision {extra['board_ends_check_precision']:.2%}, recall "
                         f"{extra['board_ends_check_recall']:.2%} on fresh positions after {extra['board_ends_steps']} "
                         f"steps, under {TRUSTED:.0%}: nothing written (give it more --minutes)")
    run_config = {name: (dict(section) if isinstance(section, dict) else section)
                  for name, section in checkpoint.config.items()}
    # the fit's own settings stay as they were (a checkpoint is data: a malformed section is
    # dropped, not trusted); only the detector's are added
    fit_section = run_config.get("model_fit")
    run_config["model_fit"] = {**(fit_section if isinstance(fit_section, dict) else {}), "board_ends": True,
                               "board_ends_minutes": config.board_ends_minutes,
                               "board_ends_examples": config.board_ends_examples}
    return make_payload(network, game, config=run_config, step=checkpoint.step, extra=extra)


FITTED_NAME = "fitted.pt"   # RUN/checkpoints/fitted.pt: the run's agent with its model fitted


def fit_run(run_folder: Path, config: ModelFitConfig, report: Callable[[FitProgress], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> Path | None:
    """A recipe's ``[model_fit]`` phase: fit the model of ``RUN/checkpoints/latest.pt`` on the
    run's replay and write ``RUN/checkpoints/fitted.pt``. Skipped (returns the file) when that
    file was already fitted from the same learner step; None when stopped before the end,
    so that an interrupted fit writes nothing and ``--resume`` runs it again."""
    from agent.checkpoint import load_checkpoint, save_checkpoint

    folder = Path(run_folder)
    latest = load_checkpoint(folder / "checkpoints" / "latest.pt")
    target = folder / "checkpoints" / FITTED_NAME
    if target.is_file():
        previous = load_checkpoint(target)
        if previous.step == latest.step and "model_fit_steps" in previous.extra:
            return target
    payload, progress = fit_checkpoint(latest, load_replay_games(folder), config, report=report,
                                       should_stop=should_stop)
    if should_stop is not None and should_stop():
        return None
    return save_checkpoint(target, payload)
