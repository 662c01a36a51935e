# Set-up on a fresh machine: `make run` or `make test` is all it takes.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test

.PHONY: run test bench lint clean install

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TESTSTAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	mkdir -p data
	$(BIN)/bocho-server --bind 127.0.0.1 --port 6379 --dir ./data

test: $(TESTSTAMP)
	$(BIN)/python -m pytest -n auto -q tests

bench: $(TESTSTAMP)
	$(BIN)/python bench/bench.py

lint: $(TESTSTAMP)
	$(BIN)/ruff check bocho tests bench

clean:
	rm -rf $(VENV) build *.egg-info
