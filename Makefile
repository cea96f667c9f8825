# Two entry points (see README): `make demo` grades the bundled example submissions, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test validate bench clean

$(STAMP): pyproject.toml
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y bubblewrap >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y bubblewrap >/dev/null)); \
	  else echo "bubblewrap (bwrap) is required: ask an administrator to install it" >&2; exit 1; fi; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mfdl assign ps1
	$(BIN)/mfdl grade ps1 examples/ps1_backprop/submissions --out results/ps1

test: setup
	$(BIN)/python -m pytest -q

validate: setup
	$(BIN)/mfdl validate ps1

bench: setup
	$(BIN)/python benchmarks/bench_grading.py

clean:
	rm -rf build results bench-out
