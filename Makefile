# Two commands for a fresh clone with Python 3.11:
#   make run     set up .venv once, then `python run.py $(ARGS)` (BSARec on RecBole's bundled ml-100k)
#   make test    set up .venv once, then `ruff check .` and `pytest -q`
# Overrides: make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
#            make run ARGS="--model=SASRec --epochs=1"       make test PYTHON=/usr/bin/python3.11
# The set-up runs again only when setup.py changes (or after `make clean`); to switch the torch
# build of an existing .venv, `make clean` first.

PYTHON ?= python3.11
TORCH ?= torch==2.13.0
ARGS ?=

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup clean

run: $(STAMP)
	$(BIN)/python run.py $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

setup: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip "setuptools<81" wheel
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[test]"
	$(BIN)/python -m pip check
	touch $@

clean:
	rm -rf $(VENV)
