"""`Root`: how an agent's search starts and what it steps through, as one typed value.

On the command line and in files a root is text (``puct``, ``gumbel+rules``,
``puct+rules+solver+reuse``); everywhere a decision depends on it, it is a `Root`, parsed
once (`Root.parse`), so that a new option is a field here and a branch where it acts, not a
string matched in many modules. The parts, in this order:

- selection: ``puct`` (pUCT with the prior) or ``gumbel`` (Gumbel root, sequential halving);
- ``+rules``: simulations step through the real game instead of the learned model
  (`SearchConfig.model`);
- ``+solver``: over the rules, prove wins, losses and draws from the game's ends and back the
  proofs up (MCTS-Solver, `SearchConfig.solver`);
- ``+reuse``: keep the search tree between the agent's moves (`agent.reuse`); pUCT only, as
  Gumbel starts each move from a fresh root.
"""
from __future__ import annotations

from dataclasses import dataclass

from envs.errors import UsageError
from mcts.config import MODELS, ROOT_METHODS as SELECTIONS   # the search's own lists: one definition
RULES, SOLVER, REUSE = "+rules", "+solver", "+reuse"


@dataclass(frozen=True)
class Root:
    """One root option; ``str(root)`` is its canonical text, `Root.parse` its inverse."""

    selection: str = "puct"
    model: str = "learned"
    solver: bool = False
    reuse: bool = False

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.solver and self.model != "rules":
            raise ValueError("the solver proves results from the real game's ends: it needs +rules")
        if self.reuse and self.selection != "puct":
            raise ValueError("+reuse keeps pUCT trees only (Gumbel starts each move from a fresh root)")

    def __str__(self) -> str:
        return (self.selection + (RULES if self.model == "rules" else "") + (SOLVER if self.solver else "")
                + (REUSE if self.reuse else ""))

    @property
    def over_rules(self) -> "Root":
        """The same search over the real game (what the learned model is compared with)."""
        return Root(self.selection, "rules", self.solver, self.reuse)

    @property
    def without_reuse(self) -> "Root":
        return Root(self.selection, self.model, self.solver, False)

    @classmethod
    def parse(cls, text: object, where: str = "root") -> "Root":
        """The Root ``text`` names; UsageError (one line, naming ``where``) if it names none."""
        if isinstance(text, Root):
            return text
        if not isinstance(text, str):
            raise UsageError(f"{where}: expected a root such as puct or gumbel+rules, got {text!r}")
        selection, *suffixes = text.strip().split("+")
        flags = ["+" + suffix for suffix in suffixes]
        order = [RULES, SOLVER, REUSE]
        if (selection not in SELECTIONS or any(flag not in order for flag in flags)
                or flags != sorted(set(flags), key=order.index)):
            raise UsageError(f"{where}: {text!r} is not a root: one of {', '.join(ROOTS)}, "
                             f"optionally a puct one ending in {REUSE}")
        try:
            return cls(selection, "rules" if RULES in flags else "learned", SOLVER in flags, REUSE in flags)
        except ValueError as error:
            raise UsageError(f"{where}: {text!r}: {error}") from None


# Every root without +reuse, as text: the choices of --root.
ROOTS = tuple(str(Root(selection, model, solver)) for model, solver in (("learned", False), ("rules", False),
                                                                        ("rules", True))
              for selection in SELECTIONS)
