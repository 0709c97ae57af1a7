import os
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("default")

# A suite started as a background job of a non-interactive shell (`sh -c '... &'`) inherits
# SIGINT ignored, as POSIX shells ignore it for such jobs, and Python then installs no
# KeyboardInterrupt handler: the tests that press Ctrl-C, in this process or on a server they
# start (which inherits the disposition), would wait forever. Give the suite the handler a
# terminal gives it; the servers it starts get the default disposition, hence theirs too.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as ``(X, y)``, features scaled to [0, 1]; tests split it themselves."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X, y


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(scope="module")
def one_blas_thread():
    """BLAS and OpenMP on one thread for a module (request it with ``pytestmark``): small fits
    on multithreaded pools are up to 10x slower on a busy 2-core machine, and threads that
    each run a multithreaded BLAS only contend; no result changes."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def torch():
    """torch, with skorch beside it, or the requesting tests are skipped."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    return torch


@pytest.fixture(scope="module")
def mods(torch):
    """The test modules of ``tests/support/torch_modules.py`` (imported once torch is known)."""
    from support import torch_modules

    return torch_modules
