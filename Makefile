# Set-up on a fresh machine: `make demo` and `make test` create .venv and install everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Measured on the 2-core CI machine: 1 intra-op thread is fastest under contention (see README).
THREADS ?= 1

.PHONY: install demo test bench bench-gate browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,rate]'
	touch $(STAMP)

# Headless Chromium for the browser tests: Debian's package, installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

demo: install
	$(BIN)/aigc-eval run --suite default --threads $(THREADS) --baseline reports/baseline/default/results.json

test: install browser
	$(BIN)/pytest -q tests

# Benchmarks: JSON for the report's performance section in reports/bench/, plus pytest-benchmark's
# own history (reports/bench/<machine>/) that `make bench-gate` compares against.
BENCH_ARGS := -q bench --benchmark-only --benchmark-storage=file://reports/bench
bench: install
	mkdir -p reports/bench
	$(BIN)/pytest $(BENCH_ARGS) --benchmark-autosave \
	  --benchmark-json=reports/bench/bench-$$(date -u +%Y%m%d-%H%M%S).json

# Speed regressions: fail when a benchmark's median is 25% slower than the last saved run.
bench-gate: install
	$(BIN)/pytest $(BENCH_ARGS) --benchmark-compare --benchmark-compare-fail=median:25%

clean:
	rm -rf $(VENV) reports/cells reports/latest *.egg-info
