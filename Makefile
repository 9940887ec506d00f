# Two commands on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint-imports typecheck bench clean

install: $(STAMP)

# llama.cpp is compiled on install.  Built for the CPU it is built on (the
# default), it dies with "illegal instruction" on machines whose CPU lists
# features the VM does not give (AMX here), and pip's cache keeps such a
# wheel: so it is built for a portable x86-64 baseline and never from the cache.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

# Re-installs whenever pyproject.toml (the dependencies) or this recipe changes.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "Compiling llama-cpp-python (~8 min on 2 cores)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-cache-dir --no-binary llama-cpp-python \
		"$$(sed -n 's/^ *"\(llama-cpp-python[^"]*\)",*$$/\1/p' pyproject.toml)"
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/reflectloop tui --preset quick

# The layering contracts ([tool.importlinter] in pyproject.toml).
lint-imports: install
	$(VENV)/bin/lint-imports

# Static types over core/ and sessions/ ([tool.mypy] in pyproject.toml).
typecheck: install
	$(PY) -m mypy

test: lint-imports typecheck
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
