# The two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv when missing, installs the CPU build of torch when torch is missing
# (a plain `pip install torch` would pull a multi-GB CUDA build), installs ponder, then runs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PONDER := $(VENV)/bin/ponder
STAMP := $(VENV)/.ponder-installed
DEMO_DIR ?= runs/demo
DEMO_MINUTES ?= 5

.PHONY: install test demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): $(PY) setup.py pyproject.toml $(wildcard mcts/*.pyx mcts/*.pxd)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --timeout=600 tests

demo: $(STAMP)
	PONDER=$(PONDER) bash scripts/demo.sh $(DEMO_DIR) $(DEMO_MINUTES)

clean:
	rm -rf build *.egg-info mcts/*.so mcts/_tree.cpp
