"""Helpers shared by the tests, imported as ``support`` (``tests/`` is on pytest's path).

* :mod:`support.reference`: NumPy reference implementations of the kernels and strategies,
  written for clarity, that the tests compare activekit against;
* :mod:`support.strategy_setup`: a learner and parameters for every registered strategy,
  for the suites that run all of them (bad input, concurrency, memory, persistence);
* :mod:`support.torch_modules`: small ``nn.Module`` classifiers for the torch tests (imports
  torch: reach it through the ``mods`` fixture, which skips without the torch extra).

Nothing here is a test module; pytest does not collect this package.
"""
