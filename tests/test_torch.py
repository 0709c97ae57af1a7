"""Torch modules as estimators (skorch), MC dropout, the penultimate-layer embedding, expected
gradient length through torch.func and BADGE: against autograd, hand-made forward passes and
NumPy references. Tests that need torch take the ``torch`` fixture, which skips without it."""

import copy
import importlib
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activekit import ActiveLearningClassifier, _kernels
from activekit.strategies import (
    BADGE,
    ClusterMargin,
    CoreSet,
    InformationDensity,
    KMeansSampling,
    RankedBatch,
    TypiClust,
)
from activekit.strategies._badge import gradient_embedding
from activekit.strategies._expected import expected_gradient_lengths
from support import reference


@pytest.fixture(scope="module")
def learner(mods, digits):
    """An MLP (16 hidden units, dropout) trained on 300 digits."""
    X, y = digits
    learner = ActiveLearningClassifier(mods.MLP, random_state=0)
    return learner.set_params(estimator__max_epochs=20).fit(X[:300], y[:300])


@pytest.fixture(scope="module")
def bn_net(mods, digits):
    from activekit.torch import TorchClassifier

    X, y = digits
    return TorchClassifier(mods.BatchNormMLP, max_epochs=5, random_state=0).fit(X[:200], y[:200])


def hidden(torch, learner, X):
    """The penultimate layer computed by hand: relu(hidden(x)) (dropout is off in eval)."""
    module = learner.estimator_.module_
    with torch.no_grad():
        return torch.relu(module.hidden(torch.as_tensor(X, dtype=torch.float32))).numpy()


def modes(module):
    return {name: m.training for name, m in module.named_modules()}


# -- packaging -------------------------------------------------------------------------------


def test_sklearn_features_never_import_torch():
    code = """
import sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from activekit import ActiveLearningClassifier
X, y = load_iris(return_X_y=True)
for strategy in ["margin", "coreset", "badge", "expected_gradient_length", "kmeans"]:
    for est in (None, make_pipeline(StandardScaler(), LogisticRegression())):
        learner = ActiveLearningClassifier(est, query_strategy=strategy, budget=30, batch_size=5,
                                           random_state=0).fit(X, y)
        learner.query(X, n_instances=3)
        learner.get_params(deep=True)
leaked = {"torch", "skorch"} & set(sys.modules)
assert not leaked, leaked
"""
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("missing", ["torch", "skorch"])
def test_torch_features_without_torch_say_what_to_install(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now fails
    for name in ("activekit.torch", "activekit._torch", "activekit._torch_inference"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(
        ImportError, match=rf'^{missing} is required .* pip install "activekit\[torch\]"$'
    ):
        importlib.import_module("activekit.torch")


def test_public_names(torch):
    import activekit.torch

    assert sorted(activekit.torch.__all__) == [
        "TorchClassifier", "TorchRegressor", "embed", "mc_dropout_proba"
    ]


# -- the estimator -----------------------------------------------------------------------------


def test_labels_of_any_kind_map_to_output_units(torch):
    from activekit.torch import TorchClassifier

    X, y = load_iris(return_X_y=True)
    linear = dict(module=torch.nn.Linear, module__in_features=4, max_epochs=60, lr=0.05)
    names = np.array(["virginica", "setosa", "versicolor"])[y]
    net = TorchClassifier(**linear, module__out_features=3, random_state=0).fit(X, names)
    assert net.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert_array_equal(net.predict(X), net.classes_[net.predict_proba(X).argmax(axis=1)])
    assert net.score(X, names) > 0.8

    # A module with units for classes the labelled rows lack: classes= names them all.
    net = TorchClassifier(**linear, module__out_features=3, classes=[0, 1, 2]).fit(X[:100], y[:100])
    assert net.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match=r"y has labels \[7\] that are not in classes=\[0, 1, 2\]"):
        net.fit(X[:3], [0, 1, 7])
    with pytest.raises(
        ValueError,
        match=r"returns scores of shape \(\d+, 3\) .* 2 classes \[0, 1\]: it must return "
        r"\(batch, 2\) logits.*classes=\[",
    ):
        TorchClassifier(**linear, module__out_features=3).fit(X[:100], y[:100])


def test_fit_is_seeded_and_leaves_torchs_generator_alone(torch, mods, digits):
    from activekit.torch import TorchClassifier

    X, y = digits
    state = torch.random.get_rng_state()
    fits = [TorchClassifier(mods.MLP, max_epochs=3, random_state=s).fit(X[:200], y[:200]) for s in (0, 0, 1)]
    probas = [net.predict_proba(X[200:300]) for net in fits]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert_array_equal(probas[0], probas[1])
    assert not np.allclose(probas[0], probas[2])

    # The learner seeds a net whose random_state is None from its own, leaving it as given.
    a = ActiveLearningClassifier(mods.MLP, random_state=7).fit(X[:200], y[:200])
    b = ActiveLearningClassifier(mods.MLP, random_state=7).fit(X[:200], y[:200])
    assert_array_equal(a.predict_proba(X[200:300]), b.predict_proba(X[200:300]))
    assert isinstance(a.estimator_.random_state, int) and a.estimator is mods.MLP
    assert a.X_labeled_.dtype == np.float32
    assert torch.equal(torch.random.get_rng_state(), state)


def test_params_of_a_bare_module_are_reachable_and_clone_round_trips(torch, mods, digits):
    from activekit.torch import TorchClassifier

    X, y = digits
    learner = ActiveLearningClassifier(mods.MLP, random_state=0)
    params = learner.get_params(deep=True)
    assert params["estimator"] is mods.MLP and params["estimator__module"] is mods.MLP
    assert {"estimator__lr", "estimator__max_epochs", "estimator__batch_size", "estimator__device",
            "estimator__optimizer", "estimator__embedding_layer"} <= set(params)
    twin = clone(learner)
    assert twin.get_params(deep=False) == learner.get_params(deep=False)

    learner.set_params(estimator__lr=0.05, estimator__module__hidden=8, budget=30)
    net = learner.estimator
    assert isinstance(net, TorchClassifier) and net.module is mods.MLP
    assert (net.lr, net.module__hidden, learner.budget) == (0.05, 8, 30)
    assert learner.get_params()["estimator__module__hidden"] == 8
    twin = clone(learner)
    assert twin.estimator is not net and twin.estimator.get_params()["module__hidden"] == 8
    assert twin.fit(X[:300], y[:300]).estimator_.module_.hidden.out_features == 8

    # estimator and estimator__* together; a module instance is copied, never trained itself.
    learner.set_params(estimator=mods.MLP(), estimator__max_epochs=2)
    instance = learner.estimator.module
    before = instance.out.weight.detach().clone()
    learner.set_params(budget=None).fit(X[:100], y[:100])
    assert learner.estimator.max_epochs == 2 and learner.estimator_.module_ is not instance
    assert torch.equal(instance.out.weight, before)


def test_grid_search_over_the_wrapped_nets_parameters(mods, digits):
    X, y = digits
    search = GridSearchCV(
        ActiveLearningClassifier(mods.MLP, random_state=0),
        {"estimator__max_epochs": [1, 25], "estimator__lr": [0.01]},
        cv=3,
    ).fit(X[:450], y[:450])
    low, high = search.cv_results_["mean_test_score"]
    assert high > low + 0.2, (low, high)
    assert search.best_params_ == {"estimator__max_epochs": 25, "estimator__lr": 0.01}
    assert search.best_estimator_.estimator_.max_epochs == 25


def test_a_skorch_net_passed_directly(torch, mods, digits):
    from skorch import NeuralNetClassifier

    X, y = digits  # float64: the learner hands the net float32
    net = NeuralNetClassifier(mods.MLP, criterion=torch.nn.CrossEntropyLoss, train_split=None,
                              max_epochs=10, lr=0.2, verbose=0)
    learner = ActiveLearningClassifier(net, query_strategy="coreset").fit(X[:200], y[:200])
    pool = X[200:500]
    E_pool, E_lab = hidden(torch, learner, pool), hidden(torch, learner, learner.X_labeled_)
    assert_array_equal(learner.query(pool, 6), reference.kcenter_greedy(E_pool, E_lab, 6)[0])
    assert np.all(np.isfinite(expected_gradient_lengths(learner.estimator_, pool[:20])))


# -- the loop ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["margin", "coreset", "badge", "expected_gradient_length"])
def test_simulated_loop_on_digits(mods, digits, strategy):
    X, y = digits
    runs = [
        ActiveLearningClassifier(mods.MLP, query_strategy=strategy, budget=80, batch_size=10,
                                 n_initial=20, random_state=0).fit(X[:1200], y[:1200])
        for _ in range(2)
    ]
    sim = runs[0]
    assert len(np.unique(sim.labeled_indices_)) == 80 and sim.n_queries_ == 6
    assert_array_equal(sim.labeled_indices_, runs[1].labeled_indices_)
    assert sim.score(X[1200:], y[1200:]) > 0.4  # chance is 0.1


def test_coreset_measures_in_the_penultimate_layer(torch, mods, learner, digits):
    X, y = digits
    pool = X[300:800]
    E_pool, E_lab = hidden(torch, learner, pool), hidden(torch, learner, learner.X_labeled_)
    idx, _ = CoreSet().rank(learner, pool, 8)
    assert_array_equal(idx, reference.kcenter_greedy(E_pool, E_lab, 8)[0])
    # embedding_layer names another layer: the input of "hidden" is the raw row.
    raw = ActiveLearningClassifier(mods.MLP, random_state=0)
    raw = raw.set_params(estimator__embedding_layer="hidden").fit(X[:300], y[:300])
    idx, _ = CoreSet().rank(raw, pool, 8)
    assert_array_equal(idx, reference.kcenter_greedy(pool, X[:300], 8)[0])


@pytest.mark.parametrize("cls", [RankedBatch, KMeansSampling, TypiClust, ClusterMargin, InformationDensity])
def test_distance_strategies_default_to_the_penultimate_layer(torch, learner, digits, cls):
    pool = digits[0][300:700]
    idx, scores = cls().rank(learner, pool, 6, random_state=0)
    ref_idx, ref_scores = cls(embedding=lambda X: hidden(torch, learner, X)).rank(
        learner, pool, 6, random_state=0
    )
    assert_array_equal(idx, ref_idx)
    assert_allclose(scores, ref_scores, rtol=1e-6)


def test_embed_restores_every_mode_and_names_layers(torch, learner, digits):
    from activekit.torch import embed

    net = copy.deepcopy(learner.estimator_)
    net.module_.train()
    net.module_.drop.eval()
    before = modes(net.module_)
    E = embed(net, digits[0][:50])
    assert modes(net.module_) == before
    assert_allclose(E, hidden(torch, learner, digits[0][:50]), rtol=1e-6)
    assert embed(net, digits[0][:5], layer="drop").shape == (5, 16)
    with pytest.raises(ValueError, match=r"embedding_layer='nope' is not a layer of MLP; its layers are \['hidden', 'drop', 'out'\]"):
        embed(net, digits[0][:5], layer="nope")
    with pytest.raises(TypeError, match=r"needs a fitted skorch net .* got LogisticRegression"):
        embed(LogisticRegression(), digits[0][:5])


# -- MC dropout --------------------------------------------------------------------------------


def test_mc_dropout_is_seeded_and_leaves_torchs_generator_alone(torch, bn_net, digits):
    from activekit.torch import mc_dropout_proba

    X = digits[0][:50]
    state = torch.random.get_rng_state()
    a = mc_dropout_proba(bn_net, X, n_samples=6, random_state=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert_array_equal(a, mc_dropout_proba(bn_net, X, n_samples=6, random_state=3))
    assert not np.allclose(a, mc_dropout_proba(bn_net, X, n_samples=6, random_state=4))
    assert a.shape == (6, 50, 10) and a.dtype == np.float32
    assert_allclose(a.sum(axis=2), 1.0, atol=1e-5)
    assert (a.std(axis=0) > 0).all(axis=1).mean() > 0.9  # the passes differ
    small = mc_dropout_proba(bn_net, X, 6, 3, batch_size=7)  # masks drawn batch after batch
    assert_array_equal(small, mc_dropout_proba(bn_net, X, 6, 3, batch_size=7))
    assert small.shape == a.shape and not np.allclose(small, a)

    # The same passes by hand: eval mode, dropout alone in training mode, the seeded generator.
    module = copy.deepcopy(bn_net.module_).eval()
    module.drop.train()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(_kernels.seed_from(3))
        manual = [torch.softmax(module(torch.as_tensor(X, dtype=torch.float32)), -1) for _ in range(6)]
    assert_array_equal(a, torch.stack(manual).numpy())

    # random_state=None draws from torch's global generator, as torch does.
    try:
        torch.manual_seed(0)
        b = mc_dropout_proba(bn_net, X, n_samples=6)
        torch.manual_seed(0)
        assert_array_equal(b, mc_dropout_proba(bn_net, X, n_samples=6))
    finally:
        torch.random.set_rng_state(state)


def test_mc_dropout_keeps_batchnorm_in_eval_and_restores_modes(torch, bn_net, digits):
    from activekit.torch import mc_dropout_proba

    net = copy.deepcopy(bn_net)
    module = net.module_
    module.train()
    module.out.eval()
    before = modes(module)
    stats = {k: v.clone() for k, v in module.norm.state_dict().items()}
    seen = {}
    for name in ("norm", "drop", "out"):
        getattr(module, name).register_forward_hook(
            lambda m, args, out, name=name: seen.setdefault(name, set()).add(m.training)
        )
    probas = mc_dropout_proba(net, digits[0][:40], n_samples=4, random_state=0)
    assert seen == {"norm": {False}, "drop": {True}, "out": {False}}
    assert modes(module) == before
    for key, value in module.norm.state_dict().items():
        assert torch.equal(value, stats[key]), key
    assert not any(p.grad is not None for p in module.parameters())
    assert probas.shape == (4, 40, 10)


def test_mc_dropout_without_dropout_is_an_error(torch, mods, digits):
    from activekit.torch import TorchClassifier, mc_dropout_proba

    X, y = digits
    net = TorchClassifier(mods.NoDropout, max_epochs=1).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="NoDropout has none, so its 20 passes would agree and its BALD would be identically zero"):
        mc_dropout_proba(net, X[:10])
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1, got 0"):
        mc_dropout_proba(net, X[:10], n_samples=0)


# -- expected gradient length ------------------------------------------------------------------


def egl_by_autograd(torch, module, X):
    """sum_c p(c|x) ||grad of the cross-entropy at label c||, one row and one label at a time."""
    module.eval()
    lengths = []
    for x in torch.as_tensor(X, dtype=torch.float32):
        with torch.no_grad():
            p = torch.softmax(module(x[None]), -1)[0]
        total = 0.0
        for c in range(len(p)):
            module.zero_grad()
            torch.nn.functional.cross_entropy(module(x[None]), torch.tensor([c])).backward()
            sq = sum(float((w.grad.double() ** 2).sum()) for w in module.parameters() if w.requires_grad)
            total += float(p[c]) * np.sqrt(sq)
        lengths.append(total)
    return np.array(lengths)


def test_egl_matches_autograd_on_single_examples(torch, bn_net, digits):
    X = digits[0][300:308]
    net = copy.deepcopy(bn_net)
    net.module_.hidden.bias.requires_grad_(False)  # frozen: not a parameter of the gradient
    lengths = expected_gradient_lengths(net, X)
    assert_allclose(lengths, egl_by_autograd(torch, copy.deepcopy(net.module_), X), rtol=2e-5)
    # In a Pipeline, the rows go through the earlier steps first.
    scaler = StandardScaler().fit(digits[0][:300])
    pipe = make_pipeline(scaler, net)
    assert_allclose(expected_gradient_lengths(pipe, X), expected_gradient_lengths(net, scaler.transform(X)))


# -- BADGE -------------------------------------------------------------------------------------


def badge_reference(model, X):
    """(outputs - e_yhat) outer [x, 1], written out for each kind of linear model."""
    probs = model.predict_proba(X)
    yhat = probs.argmax(axis=1)
    h = np.hstack([X, np.ones((len(X), 1))])
    if len(model.classes_) == 2:
        a = (probs[:, 1] - yhat)[:, None]
    elif isinstance(model, SGDClassifier):  # one-vs-rest: K sigmoids
        a = expit(model.decision_function(X)) - np.eye(len(model.classes_))[yhat]
    else:
        a = probs - np.eye(len(model.classes_))[yhat]
    return np.einsum("nk,nd->nkd", a, h).reshape(len(X), -1)


@pytest.mark.parametrize("kind", ["multinomial", "binary", "pipeline", "one_vs_rest"])
def test_badge_on_linear_models_matches_a_numpy_reference(kind):
    X, y = load_iris(return_X_y=True)
    if kind == "binary":
        X, y = X[y > 0], y[y > 0]
    estimator = {
        "multinomial": LogisticRegression(max_iter=1000),
        "binary": LogisticRegression(),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()),
        "one_vs_rest": SGDClassifier(loss="log_loss", random_state=0),
    }[kind]
    learner = ActiveLearningClassifier(estimator).fit(X[::4], y[::4])
    model, Xt = learner.estimator_, X
    if kind == "pipeline":
        model, Xt = model[-1], model[0].transform(X)
    E = badge_reference(model, Xt)
    assert_allclose(gradient_embedding(learner.estimator_, X), E, rtol=1e-12, atol=1e-15)
    picks, dist = BADGE().rank(learner, X, 7, random_state=5)
    assert_array_equal(picks, _kernels.kmeans_plusplus(E, 7, random_state=5))
    assert_array_equal(picks, reference.kmeans_plusplus(E, 7, _kernels.seed_from(5)))
    assert dist[0] == np.inf
    assert_allclose(dist[1:], [np.sqrt(((E[picks[:i]] - E[picks[i]]) ** 2).sum(1).min()) for i in range(1, 7)])


def test_badge_on_torch_is_the_last_layer_gradient(torch, learner, digits):
    X = digits[0][300:306]
    E = gradient_embedding(learner.estimator_, X)
    module = copy.deepcopy(learner.estimator_.module_).eval()
    for row, x in zip(E, torch.as_tensor(X, dtype=torch.float32), strict=True):
        module.zero_grad()
        out = module(x[None])
        torch.nn.functional.cross_entropy(out, out.argmax(dim=1)).backward()
        grad = torch.cat([module.out.weight.grad, module.out.bias.grad[:, None]], dim=1)
        assert_allclose(row, grad.flatten().numpy(), rtol=1e-5, atol=1e-7)


def test_badge_selections_are_unique_and_seeded(learner, digits):
    pool = digits[0][300:900]
    picks = [BADGE().select(learner, pool, 20, random_state=s) for s in (1, 1, 2)]
    assert len(np.unique(picks[0])) == 20
    assert_array_equal(picks[0], picks[1])
    assert not np.array_equal(picks[0], picks[2])
    E = gradient_embedding(learner.estimator_, pool)
    assert_array_equal(picks[0], _kernels.kmeans_plusplus(E, 20, random_state=1))


def test_badge_rejects_models_without_a_known_last_layer(digits):
    X, y = digits
    learner = ActiveLearningClassifier(RandomForestClassifier(n_estimators=3)).fit(X[:50], y[:50])
    with pytest.raises(TypeError, match="needs a model whose last-layer gradient it knows, got RandomForestClassifier; supported"):
        BADGE().select(learner, X[50:], 3)
    with pytest.raises(ValueError, match="needs a fitted model"):
        BADGE().select(None, X[50:], 3)


# -- persistence -------------------------------------------------------------------------------


def test_pickle_and_joblib_round_trip(mods, digits, tmp_path):
    X, y = digits
    learner = ActiveLearningClassifier(mods.MLP(), query_strategy="badge", random_state=0)
    learner = learner.set_params(estimator__max_epochs=5).fit(X[:200], y[:200])
    pool = X[200:600]
    joblib.dump(learner, tmp_path / "learner.joblib")
    for twin in (pickle.loads(pickle.dumps(learner)), joblib.load(tmp_path / "learner.joblib")):
        assert_array_equal(twin.predict_proba(pool), learner.predict_proba(pool))
        assert_array_equal(twin.query(pool), learner.query(pool))
        twin.teach(pool[:5], y[200:205])
        assert len(twin.y_labeled_) == 205
