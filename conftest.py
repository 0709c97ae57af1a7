"""Repository-wide pytest configuration (the package's doctests and tests/ alike)."""

import importlib.util
import sys

import pytest

# The torch modules' doctests need the torch extra; without it they are not collected (the
# tests in tests/ guard themselves with pytest.importorskip).
collect_ignore = []
if importlib.util.find_spec("torch") is None or importlib.util.find_spec("skorch") is None:
    collect_ignore += [
        "python/activekit/torch.py",
        "python/activekit/_torch.py",
        "python/activekit/_torch_inference.py",
    ]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny networks on one torch thread: on a small shared machine torch's intra-op threads
    spin against other processes and make a 50 ms fit take seconds. Never imports torch."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "get_num_threads"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
