# The two commands of the README. Each creates .venv if missing and installs the package.
#   make demo   encode + decode a synthetic clip, print bits, kbps, PSNR, write outputs/
#   make test   the test suite (CI runs exactly this)
# and, not in CI (several minutes more on 2 cores):
#   make check-readme   every README command at small sizes (tests/test_readme.py with CHECK_README=all)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test check-readme venv clean

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

check-readme: $(STAMP)
	CHECK_README=all $(PY) -m pytest -q tests/test_readme.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
