"""Build script: declares the Cython tree-search extension of `mcts/`.

Everything else (metadata, dependencies, the `ponder` command) lives in pyproject.toml;
this file exists because the extension list is code.
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "mcts._tree",
        sources=["mcts/_tree.pyx"],
        language="c++",
        # no FMA contraction: the compiled search must round exactly like the reference
        extra_compile_args=["-O3", "-std=c++17", "-ffp-contract=off"],
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
