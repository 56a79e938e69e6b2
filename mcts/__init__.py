"""Batched learned-model tree search: a Cython tree, a pure-Python reference of the same search, a benchmark.

Nothing here imports torch: the caller runs the network between `select` and `expand`.
"""
