# Two entry points (see README): `make demo` grades the bundled example submissions, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test validate bench clean docker-image

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

test: setup docker-image
	$(BIN)/python -m pytest -q

validate: setup
	$(BIN)/mfdl validate ps1

bench: setup
	$(BIN)/python benchmarks/bench_grading.py

clean:
	rm -rf build results bench-out

# The grading image for --backend docker: start an engine if none runs (as root), build a Debian base with
# mmdebstrap (no image pulls needed), then the image. Docker layer caching keeps rebuilds short.
docker-image: setup
	docker/start-engine.sh
	@command -v mmdebstrap >/dev/null 2>&1 || (apt-get install -y mmdebstrap >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y mmdebstrap >/dev/null))
	docker/make-base-image.sh mfdl-base:bookworm
	MFDL_BASE_IMAGE=mfdl-base:bookworm docker/build-image.sh
