# The two commands of the README. Each creates .venv if missing and installs the package.
#   make demo   encode + decode a synthetic clip, print bits, kbps, PSNR, write outputs/
#   make test   the test suite (CI runs exactly this)
# and, not in CI (several minutes more on 2 cores):
#   make check-readme   every README command at small sizes (tests/test_readme.py with CHECK_README=all)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test check-readme table1 venv clean

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

# Table 1 + RD plots + y-t figures on a folder of clips (configs/experiment/table1.yaml; README "Table 1"):
#   make table1 SEQUENCES=../shared/clips [ARGS="video.num_frames=20"]
SEQUENCES ?=
ARGS ?=
table1: $(STAMP)
	@test -n "$(SEQUENCES)" || { echo "usage: make table1 SEQUENCES=<folder of clips or .txt manifest> [ARGS='...']"; exit 2; }
	$(PY) scripts/eval_bdrate.py sequences=$(SEQUENCES) experiment=table1 $(ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache
