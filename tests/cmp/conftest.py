"""Shared fixtures of the CMP tests: the parity weights in the published checkpoint container."""

from __future__ import annotations

from pathlib import Path

import pytest
from cmp_helpers import write_published_container
from parity import load_schema, parity_root, parity_state_dict


def cmp_fixtures_present() -> bool:
    return (parity_root() / "cmp" / "schema.json").is_file()


@pytest.fixture(scope="session")
def cmp_schema() -> dict:
    if not cmp_fixtures_present():
        pytest.skip(f"no CMP parity fixtures under {parity_root()}")
    return load_schema("cmp")


@pytest.fixture(scope="session")
def published_checkpoint(tmp_path_factory, cmp_schema) -> Path:
    """The parity state dict ('module.' names) saved as a ckpt_iter_42000.pth.tar-style file."""
    path = tmp_path_factory.mktemp("cmp") / "ckpt_iter_42000.pth.tar"
    return write_published_container(path, parity_state_dict(cmp_schema))
