# The two commands of the README. Each creates .venv if missing and installs the package.
#   make demo   encode + decode a synthetic clip, print bits, kbps, PSNR, write outputs/
#   make test   the test suite (CI runs exactly this)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

# Standard torch/torchvision builds from the package index (torchvision must import
# against the torch it gets, so neither is pinned to a local CPU-only wheel).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --prefer-binary -e ".[test]"
	$(PY) -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) outputs .pytest_cache
