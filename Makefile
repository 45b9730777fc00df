# The whole workflow of stdann. `make test` on a fresh Debian 12 machine installs
# everything it needs (system packages, the virtual environment, torch, the Rust
# build) and runs every check; a second run only redoes what changed.

SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV ?= .venv
STAMPS := .stamps
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := pkg-config clang libclang-dev ffmpeg \
	libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
	libavfilter-dev libavdevice-dev libswresample-dev patchelf

RUST_SOURCES := Cargo.toml $(wildcard Cargo.lock) $(shell find rust -name '*.rs' -o -name Cargo.toml)
PY_SOURCES := pyproject.toml $(shell find python -name '*.py' -o -name '*.pyi')

.PHONY: setup system venv native cli test test-rust test-python lint format bench demo cpu-hour wheel clean

setup: $(STAMPS)/native $(STAMPS)/cli

system: $(STAMPS)/system
venv: $(STAMPS)/python-deps
native: $(STAMPS)/native
cli: $(STAMPS)/cli

$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Chromium lets the tests open report.html as a reader would; where it
	@# cannot be installed those tests skip and say why.
	@dpkg-query -W -f='$${Status}\n' chromium 2>/dev/null | grep -q '^install ok installed' || \
		{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		  $(SUDO) apt-get install -y -qq --no-install-recommends chromium; } || \
		echo "chromium could not be installed: the report's browser test will skip"
	@touch $@

$(PY):
	python3 -m venv $(VENV)

# torch and torchvision are the default PyPI build; pip's cache keeps a second
# environment from downloading them again.
$(STAMPS)/python-deps: pyproject.toml | $(PY) $(STAMPS)/system
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "maturin>=1.7,<2"
	$(PY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
		o = d['optional-dependencies']; print('\n'.join(d['dependencies'] + o['dev'] + o['corpus']))" \
		> $(STAMPS)/requirements.txt
	$(PIP) install -q -r $(STAMPS)/requirements.txt
	@touch $@

# The extension module, built in release mode and installed editable into the venv.
$(STAMPS)/native: $(RUST_SOURCES) pyproject.toml $(STAMPS)/python-deps
	$(VENV)/bin/maturin develop --release
	@touch $@

# The stdann-pinwheels binary, installed beside the Python entry points.
$(STAMPS)/cli: $(RUST_SOURCES) $(STAMPS)/system | $(PY)
	cargo build --release -p stdann-cli
	install -m 755 target/release/stdann-pinwheels $(VENV)/bin/stdann-pinwheels
	@touch $@

test: lint test-rust test-python

test-rust: $(STAMPS)/system
	cargo test --release --workspace --exclude stdann-python

test-python: setup
	$(PY) -m pytest

# stubtest holds the typed stub of the native module to the built module, so
# the two cannot drift apart.
lint: $(STAMPS)/native
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(PY) -m mypy.stubtest stdann._native --allowlist python/stdann/_native.stubtest-allowlist

format: $(STAMPS)/python-deps
	cargo fmt --all
	$(VENV)/bin/ruff check --fix python tests benches
	$(VENV)/bin/ruff format python tests benches

# The peers of the clip pipeline are optional: --no-deps keeps pip from
# replacing the installed torch; a peer that fails to install skips, saying why.
# --benchmark-only turns the benchmarks back on (pyproject's addopts disables
# them for the test suite; benches/conftest.py); the JSON goes to .benchmarks/
# (ignored) and benches/table.py writes benches/README.md's table from it.
BENCH_JSON := .benchmarks/bench.json
bench: setup
	-$(PIP) install -q --no-deps decord2 torchcodec
	@mkdir -p $(dir $(BENCH_JSON))
	$(PY) -m pytest benches --benchmark-only --benchmark-json=$(BENCH_JSON)
	$(PY) benches/table.py $(BENCH_JSON)

# A wheel for machines without FFmpeg: auditwheel's repair copies the FFmpeg
# libraries (and what they link) into it. The manylinux tag is this system's glibc.
wheel: $(STAMPS)/python-deps
	$(VENV)/bin/maturin build --release --auditwheel repair \
		--compatibility manylinux_$$(ldd --version | head -1 | grep -o '[0-9]*\.[0-9]*$$' | tr . _) -o dist

# The whole method on the built-in corpus: train (alpha = 0), grating responses,
# swap optimisation, the topographic model, then the analysis and its report.
DEMO ?= runs/demo
demo: setup
	$(VENV)/bin/stdann recipe --config configs/demo.yaml --out $(DEMO)
	$(VENV)/bin/stdann analyze $(DEMO) --out $(DEMO)/analysis
	@mkdir -p docs && cp $(DEMO)/analysis/figures/direction_map.png docs/demo_direction_map.png
	@echo "report: $(abspath $(DEMO))/analysis/report.html"

CPU_HOUR ?= runs/cpu-hour
cpu-hour: setup
	$(VENV)/bin/stdann recipe --config configs/cpu-hour.yaml --out $(CPU_HOUR)
	$(VENV)/bin/stdann analyze $(CPU_HOUR) --out $(CPU_HOUR)/analysis
	@echo "report: $(abspath $(CPU_HOUR))/analysis/report.html"

clean:
	rm -rf target $(STAMPS) .pytest_cache .ruff_cache
