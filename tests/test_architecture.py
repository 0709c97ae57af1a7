"""ARCHITECTURE.md is a map: every file it names exists, and the names it gives for the
strategy bases, the seam's rules and the Rust macros are the code's."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
# Where a bare file name in the map may live.
FOLDERS = [
    ".",
    "python/activekit",
    "python/activekit/strategies",
    "python/activekit/evaluation",
    "python/activekit/session",
    "python/activekit/integrations",
    "rust/core/src",
    "rust/core/tests",
    "rust/py/src",
    "benches",
    "tests",
    "tests/support",
    "docs",
]
NAMED = sorted(
    {m for m in re.findall(r"[\w./-]+\.(?:py|rs|md)\b", TEXT) if "<" not in m and "*" not in m}
)


@pytest.mark.parametrize("name", NAMED)
def test_every_file_the_map_names_exists(name):
    if "/" in name:  # from the root, or within the package
        paths = [ROOT / name, ROOT / "python/activekit" / name]
        assert any(p.is_file() for p in paths), f"ARCHITECTURE.md names {name}, which does not exist"
    else:
        found = [f for f in FOLDERS if (ROOT / f / name).is_file()]
        assert found, f"ARCHITECTURE.md names {name}, found in none of {FOLDERS}"


def test_the_map_names_enough_files():
    # The regex above must keep finding the map's files (a broken pattern would pass vacuously).
    assert len(NAMED) >= 40


def test_python_names_in_the_map_are_the_codes():
    from activekit import _backends, _base, _random
    from activekit.strategies import QueryStrategy, RankingStrategy, ScoringStrategy, _common

    assert issubclass(ScoringStrategy, RankingStrategy)
    assert issubclass(RankingStrategy, QueryStrategy)
    assert "ScoringStrategy (writes score)" in TEXT.replace("`", "")
    for module, names in [
        (_base, ["BaseActiveLearner"]),
        (_backends, ["RustBackend", "TorchBackend"]),
        (_random, ["draw_seed"]),
        (_common, ["fill_docstring", "predict_proba", "check_probabilities", "torch_net"]),
    ]:
        for name in names:
            assert name in TEXT, name
            assert hasattr(module, name), f"{module.__name__}.{name}"


@pytest.mark.parametrize("macro", ["dispatch!", "by_float!", "named!"])
def test_rust_macros_in_the_map_exist(macro):
    assert macro in TEXT
    sources = "".join(p.read_text() for p in (ROOT / "rust").rglob("*.rs"))
    assert f"macro_rules! {macro[:-1]} " in sources
