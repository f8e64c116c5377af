import os
import sys
from pathlib import Path

# Make tests/parity.py importable as ``parity`` and keep CPU tests deterministic and light.
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
