"""Batched learned-model tree search: a Cython tree, a pure-Python reference of the same search, a benchmark.

Nothing here imports torch: the caller runs the network between `select` and `expand`.
`BatchedTree` is the compiled tree (mcts/_tree.pyx); `mcts.reference.ReferenceTree` is the
same search in plain Python, the readable specification the compiled one is tested against.
"""
from mcts.config import SearchConfig, SearchOutput
from mcts.reference import ReferenceTree

try:
    from mcts._tree import BatchedTree
except ImportError as _error:  # extension not built yet: fall back loudly, not silently
    import warnings as _warnings

    _warnings.warn(f"mcts._tree is not built ({_error}); mcts.BatchedTree is the slow ReferenceTree. "
                   "Build it with `python setup.py build_ext --inplace`.", RuntimeWarning, stacklevel=2)
    BatchedTree = ReferenceTree

__all__ = ["BatchedTree", "ReferenceTree", "SearchConfig", "SearchOutput"]
