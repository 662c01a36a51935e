# Set-up on a fresh machine: `make run` or `make test` is all it takes.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test

.PHONY: run test bench lint clean install

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The install builds the optional compiled request loop (bocho/_fastpath.pyx, Cython): a
# change to it or to the build files installs (and so compiles) again.
BUILD_INPUTS := pyproject.toml setup.py bocho/_fastpath.pyx bocho/_rdbfast.pyx \
	bocho/_luabridge.pyx $(wildcard bocho/*.pxd)
# The request-path and snapshot tests, run a second time on the pure-Python path
# (BOCHO_PURE=1: no compiled request loop, no compiled RDB walk, lupa's own redis.call).
PURE_TESTS := tests/test_protocol.py tests/test_hotpath.py tests/test_smoke.py \
	tests/test_strings.py tests/test_fastpath.py tests/test_rdb_snapshot.py \
	tests/test_scripting.py

$(STAMP): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TESTSTAMP): $(BUILD_INPUTS) $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	mkdir -p data
	$(BIN)/bocho-server --bind 127.0.0.1 --port 6379 --dir ./data

test: $(TESTSTAMP)
	$(BIN)/python -m pytest -n auto -q tests
	BOCHO_PURE=1 $(BIN)/python -m pytest -n auto -q $(PURE_TESTS)

bench: $(TESTSTAMP)
	$(BIN)/python bench/bench.py

lint: $(TESTSTAMP)
	$(BIN)/ruff check bocho tests bench

clean:
	rm -rf $(VENV) build *.egg-info bocho/_fastpath.c bocho/_fastpath.*.so bocho/_rdbfast.c bocho/_rdbfast.*.so
