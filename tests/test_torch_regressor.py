"""Torch modules in ActiveLearningRegressor: a bare module becomes a TorchRegressor (not a
TorchClassifier), fits 1-D continuous targets, is seeded, routes ``estimator__*`` parameters,
queries with the regression strategies, simulates, pickles, and says what is wrong with a
module of the wrong output width. CPU tensors; tiny nets and few epochs."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import r2_score

from activekit import ActiveLearningClassifier, ActiveLearningRegressor
from activekit._estimators import route_set_params, wrap, wrapped_params
from activekit.strategies import CommitteeVariance, ExpectedModelChange
from support import reference

#: Few epochs of the 5-16-1 MLP: R^2 about 0.95 on the linear target below.
FAST = {"estimator__max_epochs": 20, "estimator__module__n_in": 5, "estimator__module__n_out": 1}


@pytest.fixture(scope="module")
def linear():
    """A linear target of unit scale on 5 standard-normal features, with a little noise."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) / 2.7 + 0.05 * rng.standard_normal(300)
    return X, y


def train(mods, linear, strategy="committee_variance"):
    """The MLP class, wrapped by the regressor, trained on 100 rows for ``strategy``."""
    X, y = linear
    learner = ActiveLearningRegressor(mods.MLP, query_strategy=strategy, random_state=0)
    return learner.set_params(**FAST).fit(X[:100], y[:100])


@pytest.fixture(scope="module")
def fitted(mods, linear):
    return train(mods, linear)


def hidden(torch, learner, X):
    """The MLP's penultimate layer by hand: relu(hidden(x)) (dropout is off in eval)."""
    module = learner.estimator_.module_
    with torch.no_grad():
        return torch.relu(module.hidden(torch.as_tensor(X, dtype=torch.float32))).numpy()


# -- the estimator -------------------------------------------------------------------------------


def test_public_name(torch):
    import activekit.torch
    from activekit._torch import TorchRegressor

    assert activekit.torch.TorchRegressor is TorchRegressor
    assert "TorchRegressor" in activekit.torch.__all__


def test_a_bare_module_class_fits_continuous_targets(torch, fitted, linear):
    from activekit.torch import TorchClassifier, TorchRegressor

    X, y = linear
    net = fitted.estimator_
    assert isinstance(net, TorchRegressor) and not isinstance(net, TorchClassifier)
    assert isinstance(net.criterion_, torch.nn.MSELoss)
    pred = fitted.predict(X[100:])
    assert pred.shape == (200,) and pred.dtype == np.float32
    assert len(np.unique(pred)) == 200  # continuous, not class labels
    r2 = r2_score(y[100:], pred)
    assert r2 > 0.8, r2  # the mean scores 0
    assert fitted.score(X[100:], y[100:]) == pytest.approx(r2, rel=1e-6)
    assert fitted.X_labeled_.dtype == np.float32


def test_a_bare_module_instance_is_copied_and_fits(torch, mods, linear):
    from activekit.torch import TorchRegressor

    X, y = linear
    instance = mods.MLP(n_in=5, n_out=1)
    before = instance.out.weight.detach().clone()
    learner = ActiveLearningRegressor(instance, random_state=0)
    learner.set_params(estimator__max_epochs=20).fit(X[:100], y[:100])
    assert isinstance(learner.estimator, TorchRegressor) and learner.estimator.module is instance
    assert learner.estimator_.module_ is not instance
    assert torch.equal(instance.out.weight, before)
    assert r2_score(y[100:], learner.predict(X[100:])) > 0.8


def test_fit_is_seeded_and_leaves_torchs_generator_alone(torch, mods, linear):
    X, y = linear
    state = torch.random.get_rng_state()

    def run(seed):
        learner = ActiveLearningRegressor(mods.MLP, random_state=seed).set_params(**FAST)
        return learner.fit(X[:100], y[:100]).predict(X[100:])

    first, again, other = run(3), run(3), run(4)
    assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_targets_as_scikit_learn_gives_them(torch, linear):
    from activekit.torch import TorchRegressor

    X, y = linear
    linear_net = dict(module=torch.nn.Linear, module__in_features=5, max_epochs=5, random_state=0)
    one = TorchRegressor(**linear_net, module__out_features=1)
    # A list, a column and a float32 tensor are the same 1-target fit.
    preds = [
        clone(one).fit(X[:50], target).predict(X[50:60])
        for target in (y[:50].tolist(), y[:50, None], torch.as_tensor(y[:50], dtype=torch.float32))
    ]
    assert preds[0].shape == (10,)
    for p in preds[1:]:
        assert_allclose(p, preds[0], rtol=1e-6)
    # Two targets: two output columns, predicted as a matrix.
    two = TorchRegressor(**linear_net, module__out_features=2)
    assert two.fit(X[:50], np.c_[y[:50], -y[:50]]).predict(X[50:60]).shape == (10, 2)
    # A double module is fitted and predicts in float64.
    double = TorchRegressor(torch.nn.Linear(5, 1).double(), max_epochs=2, random_state=0)
    assert double.fit(X[:50], y[:50]).predict(X[50:60]).dtype == np.float64


@pytest.mark.parametrize("out", [2, None])
def test_a_module_of_the_wrong_width_is_a_clear_error(torch, linear, out):
    X, y = linear

    class Squeezed(torch.nn.Module):  # (batch,) instead of (batch, 1)
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(5, 1)

        def forward(self, x):
            return self.linear(x)[:, 0]

    module = torch.nn.Linear(5, out) if out else Squeezed()
    shape = r"\(64, 2\)" if out else r"\(64,\)"
    learner = ActiveLearningRegressor(module, random_state=0)
    with pytest.raises(
        ValueError,
        match=rf"module returns outputs of shape {shape} .* must return \(batch, 1\) outputs",
    ):
        learner.fit(X[:100], y[:100])
    assert not hasattr(learner, "estimator_")


# -- routing -----------------------------------------------------------------------------------


def test_each_learner_wraps_a_bare_module_in_its_own_kind(torch, mods):
    from activekit.torch import TorchClassifier, TorchRegressor

    assert isinstance(wrap(mods.MLP), TorchClassifier)
    assert isinstance(wrap(mods.MLP, "regressor"), TorchRegressor)
    with pytest.raises(ValueError, match=r"kind must be one of \['classifier', 'regressor'\], got 'ranker'"):
        wrap(mods.MLP, "ranker")
    reg = ActiveLearningRegressor(mods.MLP).get_params()
    clf = ActiveLearningClassifier(mods.MLP).get_params()
    assert reg["estimator__criterion"] is torch.nn.MSELoss
    assert clf["estimator__criterion"] is torch.nn.CrossEntropyLoss
    assert "estimator__classes" in clf and "estimator__classes" not in reg
    assert set(wrapped_params(mods.MLP, "regressor")) == {
        k for k in reg if k.startswith("estimator__")
    }
    routed = route_set_params(mods.MLP, {"estimator__lr": 0.1}, "regressor")
    assert isinstance(routed["estimator"], TorchRegressor)


def test_params_of_a_bare_module_are_reachable_and_clone_round_trips(torch, mods, linear):
    from activekit.torch import TorchRegressor

    X, y = linear
    learner = ActiveLearningRegressor(mods.MLP, random_state=0)
    params = learner.get_params(deep=True)
    assert params["estimator"] is mods.MLP and params["estimator__module"] is mods.MLP
    assert {"estimator__lr", "estimator__max_epochs", "estimator__batch_size",
            "estimator__device", "estimator__embedding_layer"} <= set(params)
    assert clone(learner).get_params(deep=False) == learner.get_params(deep=False)

    learner.set_params(estimator__lr=0.05, **FAST, budget=30)
    net = learner.estimator
    assert isinstance(net, TorchRegressor) and net.module is mods.MLP
    assert (net.lr, net.module__n_out, learner.budget) == (0.05, 1, 30)
    assert learner.get_params()["estimator__lr"] == 0.05
    twin = clone(learner)
    assert twin.estimator is not net and twin.estimator.get_params()["lr"] == 0.05
    twin.set_params(budget=None, estimator__module__hidden=4).fit(X[:50], y[:50])
    assert twin.estimator_.module_.hidden.out_features == 4
    assert "module__hidden" not in net.get_params()  # the original is left as it was


# -- strategies ----------------------------------------------------------------------------------


def check_picks(picks, n_pool, n):
    assert picks.shape == (n,) and picks.dtype.kind == "i"
    assert len(np.unique(picks)) == n and 0 <= picks.min() and picks.max() < n_pool


def test_gsy_picks_farthest_predictions(mods, linear):
    X, _ = linear
    pool = X[100:]
    learner = train(mods, linear, "gsy")
    pred = learner.predict(pool).astype(np.float64)[:, None]
    expected = reference.kcenter_greedy(pred, learner.y_labeled_[:, None], 6)[0]
    assert_array_equal(learner.query(pool, 6), expected)


def test_gsx_measures_in_the_penultimate_layer(torch, mods, linear):
    X, _ = linear
    pool = X[100:]
    learner = train(mods, linear, "gsx")
    E_pool, E_lab = hidden(torch, learner, pool), hidden(torch, learner, learner.X_labeled_)
    assert_array_equal(learner.query(pool, 6), reference.kcenter_greedy(E_pool, E_lab, 6)[0])


def test_emcm_is_the_last_layers_expected_change(torch, mods, linear):
    """EMCM with a net: ``||h(x)|| * mean_k |f(x) - f_k(x)|``, ``h`` the penultimate layer
    (the squared loss's gradient in the last layer's weights is ``(f(x) - y) h(x)``)."""
    from activekit.strategies._regression import bootstrap_predictions

    X, _ = linear
    pool = X[100:140]
    learner = train(mods, linear, "emcm")
    f = learner.predict(pool).astype(np.float64)
    boot = bootstrap_predictions(learner, pool, 3, 0)
    expected = np.linalg.norm(hidden(torch, learner, pool).astype(np.float64), axis=1)
    expected *= np.abs(f - boot).mean(axis=0)
    score = ExpectedModelChange(n_members=3).score(learner, pool)
    assert_allclose(score, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "strategy",
    [CommitteeVariance(n_members=3), ExpectedModelChange(n_members=3), "igs"],
    ids=["committee_variance", "emcm", "igs"],
)
def test_regression_strategies_give_valid_seeded_picks(torch, mods, linear, strategy):
    X, _ = linear
    pool = X[100:]
    learner = train(mods, linear, strategy)
    state = torch.random.get_rng_state()
    picks = learner.query(pool, 5)
    check_picks(picks, len(pool), 5)
    assert_array_equal(learner.query(pool, 5), picks)  # bootstrap replicas are seeded
    assert torch.equal(torch.random.get_rng_state(), state)


def test_committee_variance_is_the_variance_of_bootstrap_nets(fitted, linear):
    X, _ = linear
    pool = X[100:140]
    strategy = CommitteeVariance(n_members=3)
    members = strategy.predictions(fitted, pool)
    assert members.shape == (3, 40)
    assert np.all(members.std(axis=0) > 0)  # the replicas differ
    assert_allclose(strategy.score(fitted, pool), members.var(axis=0), rtol=1e-12)


def test_simulated_fit_with_a_budget(mods, linear):
    X, y = linear
    runs = [
        ActiveLearningRegressor(mods.MLP, query_strategy="gsy", budget=40, batch_size=10,
                                n_initial=10, random_state=0).set_params(**FAST).fit(X, y)
        for _ in range(2)
    ]
    sim = runs[0]
    assert len(np.unique(sim.labeled_indices_)) == 40 and sim.n_queries_ == 3
    assert_array_equal(sim.labeled_indices_, runs[1].labeled_indices_)
    assert sim.score(X, y) > 0.5


def test_pickle_round_trip(mods, linear):
    X, y = linear
    pool = X[100:]
    learner = train(mods, linear, "gsy")
    twin = pickle.loads(pickle.dumps(learner))
    assert_array_equal(twin.predict(pool), learner.predict(pool))
    assert_array_equal(twin.query(pool, 4), learner.query(pool, 4))
    twin.teach(pool[:5], y[100:105])
    assert len(twin.y_labeled_) == 105 and len(learner.y_labeled_) == 100
