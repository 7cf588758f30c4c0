"""Shared test fixtures: locations of ../shared (corpus, golden PAK) and sample content."""
from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest

# The cook cache of every test run (and of the commands the tests start) is a fresh
# folder, never the user's: tests that need a cold or a shared cache make their own.
_TEST_CACHE = tempfile.mkdtemp(prefix="oxy-test-cache-")
os.environ["OXY_CACHE_DIR"] = _TEST_CACHE
atexit.register(shutil.rmtree, _TEST_CACHE, True)

PROJECT = pathlib.Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"
GOLDEN_PAK = SHARED / "reference" / "minimal_ref.pak"
SAMPLE_PAK = PROJECT / "samples" / "sample.pak"


def pytest_configure(config: pytest.Config) -> None:
    """Without ``../shared`` (the corpus and the engine's reference PAK), stop with one message
    instead of a collection error per test module."""
    missing = [p for p in (CORPUS, GOLDEN_PAK) if not p.exists()]
    if missing:
        pytest.exit(f"the tests read the shared corpus beside the project: {', '.join(map(str, missing))} "
                    f"not found (put the shared folder at {SHARED}; see the README's set-up)", returncode=4)


@pytest.fixture(scope="session")
def golden_bytes() -> bytes:
    return GOLDEN_PAK.read_bytes()


@pytest.fixture(scope="session")
def _sample_root_template(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    from oxy.samples import textured_cube, write_loose_root

    root = tmp_path_factory.mktemp("sample_root") / "root"
    write_loose_root(root, textured_cube())
    return root


@pytest.fixture
def sample_root(_sample_root_template: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A fresh, valid loose cooked root (textured cube) that a test may corrupt."""
    root = tmp_path / "root"
    shutil.copytree(_sample_root_template, root)
    return root
