"""Bad input gets a clear error naming the problem, and leaves everything as it was.

The catalogue of the learner's entry points (query, teach, fit, should_stop and the delegated
methods), of evaluate_strategies and of the command line. Every case checks by comparison,
not by assumption, that after the error the learner (its labelled set and model included),
the inputs and NumPy's global random state are exactly as before. The per-strategy cases
(pool forms, sparse pools, duplicates, single classes, bad probabilities) are in
test_bad_input_strategies.py; faults inside fit are in test_faults.py.
"""

import pickle

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from activekit import ActiveLearningClassifier
from activekit._cli import main
from activekit.evaluation import evaluate_strategies


@pytest.fixture
def data(digits):
    X, y = digits
    return X[:80].copy(), y[:80].copy(), X[80:200].copy()


@pytest.fixture
def fitted(data):
    X, y, _ = data
    return ActiveLearningClassifier(batch_size=5, random_state=0).fit(X, y)


def snapshot(*objects):
    # The legacy global RNG is exactly what must stay untouched.
    return pickle.dumps(objects), pickle.dumps(np.random.get_state())  # noqa: NPY002


def assert_rejected(call, exc, message, *watched):
    """``call()`` raises ``exc`` matching ``message``; ``watched`` objects and the global RNG
    are unchanged (compared pickled, before and after)."""
    before = snapshot(*watched)
    with pytest.raises(exc, match=message):
        call()
    assert snapshot(*watched) == before


NAN_POOL = np.full((3, 64), 0.5)
NAN_POOL[1, 3] = np.nan
INF_POOL = np.full((3, 64), 0.5)
INF_POOL[2, 0] = np.inf
OBJECT_POOL = np.full((3, 64), 0.5, dtype=object)
OBJECT_POOL[1, 7] = "x"

QUERY_CASES = [
    ("empty pool", dict(X_pool=np.zeros((0, 64))), ValueError, r"0 sample\(s\)"),
    ("one-row pool, 2 wanted", dict(X_pool=np.zeros((1, 64)), n_instances=2), ValueError, r"between 1 and the pool size \(1\), got 2"),
    ("n_instances 0", dict(n_instances=0), ValueError, r"between 1 and the pool size \(120\), got 0"),
    ("n_instances negative", dict(n_instances=-3), ValueError, "got -3"),
    ("n_instances > pool", dict(n_instances=121), ValueError, r"pool size \(120\), got 121"),
    ("n_instances 2**70", dict(n_instances=2**70), ValueError, r"pool size \(120\), got 1180591620717411303424"),
    ("n_instances bool", dict(n_instances=True), TypeError, "must be an integer, got bool"),
    ("n_instances float", dict(n_instances=2.0), TypeError, "must be an integer, got float"),
    ("n_instances NumPy float", dict(n_instances=np.float64(2)), TypeError, "must be an integer, got float64"),
    ("n_instances str", dict(n_instances="3"), TypeError, "must be an integer, got str"),
    ("return_scores str", dict(return_scores="yes"), TypeError, "return_scores must be True or False, got str 'yes'"),
    ("NaN in pool", dict(X_pool=NAN_POOL), ValueError, "Input X contains NaN"),
    ("inf in pool", dict(X_pool=INF_POOL), ValueError, "Input X contains infinity"),
    ("None pool", dict(X_pool=None), ValueError, "Expected 2D array, got scalar array"),
    ("1-D pool", dict(X_pool=np.zeros(64)), ValueError, "Expected 2D array, got 1D"),
    ("3-D pool", dict(X_pool=np.zeros((2, 8, 8))), ValueError, "Found array with dim 3"),
    ("zero features", dict(X_pool=np.zeros((5, 0))), ValueError, r"0 feature\(s\) \(shape=\(5, 0\)\)"),
    ("feature count", dict(X_pool=np.zeros((5, 63))), ValueError, "X has 63 features, but"),
    ("complex pool", dict(X_pool=np.zeros((5, 64), dtype=complex)), ValueError, "Complex data"),
    ("string pool", dict(X_pool=np.full((5, 64), "a")), ValueError, "not compatible with arrays of bytes/strings"),
    ("object pool with a string", dict(X_pool=OBJECT_POOL), ValueError, "could not convert string to float: 'x'"),
]


@pytest.mark.parametrize(("case", "kwargs", "exc", "message"), QUERY_CASES, ids=[c[0] for c in QUERY_CASES])
def test_query_rejects(fitted, data, case, kwargs, exc, message):
    kwargs = {"X_pool": data[2], **kwargs}
    assert_rejected(lambda: fitted.query(**kwargs), exc, message, fitted, kwargs)


def test_query_before_fit(data):
    learner = ActiveLearningClassifier()
    assert_rejected(lambda: learner.query(data[2]), NotFittedError, "not fitted yet", learner)


def test_single_class_labelled_set_with_uncertainty_strategy(data):
    X, y, pool = data
    # A decision tree, unlike logistic regression, fits a single class.
    learner = ActiveLearningClassifier(DecisionTreeClassifier(), query_strategy="entropy")
    learner.fit(X[y == 3], y[y == 3])
    assert_rejected(
        lambda: learner.query(pool), ValueError,
        r"at least 2 classes; the labelled set has only the class \[3\]", learner, pool,
    )


def test_estimator_without_predict_proba(data):
    X, y, pool = data
    learner = ActiveLearningClassifier(LinearSVC(), query_strategy="entropy").fit(X, y)
    assert_rejected(
        lambda: learner.query(pool), TypeError,
        r"'entropy' needs class probabilities.*LinearSVC has no", learner,
    )
    # random sampling needs no probabilities.
    assert learner.set_params(query_strategy="random").fit(X, y).query(pool).shape == (10,)


def test_return_scores_needs_a_ranking_strategy(data):
    X, y, pool = data
    learner = ActiveLearningClassifier(query_strategy="random").fit(X, y)
    assert_rejected(
        lambda: learner.query(pool, return_scores=True), ValueError,
        "return_scores=True needs a ranking strategy", learner,
    )


TEACH_CASES = [
    ("length mismatch", lambda X, y: (X[:3], y[:2]), ValueError, r"inconsistent numbers of samples: \[3, 2\]"),
    ("feature count", lambda X, y: (X[:3, :10], y[:3]), ValueError, "X has 10 features, but"),
    ("zero features", lambda X, y: (X[:3, :0], y[:3]), ValueError, r"0 feature\(s\)"),
    ("NaN in X", lambda X, y: (np.where(X[:3] > 0.5, np.nan, X[:3]), y[:3]), ValueError, "contains NaN"),
    ("1-D X", lambda X, y: (X[0], y[:1]), ValueError, "Expected 2D array"),
    ("3-D X", lambda X, y: (X[:2].reshape(2, 8, 8), y[:2]), ValueError, "Found array with dim 3"),
    ("complex X", lambda X, y: (X[:2].astype(complex), y[:2]), ValueError, "Complex data"),
    ("empty", lambda X, y: (X[:0], y[:0]), ValueError, r"0 sample\(s\)"),
    ("string labels into numbers", lambda X, y: (X[:2], np.array(["a", "b"])), TypeError, r"\(strings\) but the labelled set has int64 labels \(numbers\)"),
    ("mixed object labels", lambda X, y: (X[:2], np.array([1, "b"], dtype=object)), TypeError, r"y has dtype object \(mixed\)"),
    ("NaN label", lambda X, y: (X[:2], np.array([1.0, np.nan])), ValueError, "Input y contains NaN"),
    ("inf label", lambda X, y: (X[:2], np.array([np.inf, 1.0])), ValueError, "Input y contains infinity"),
    ("continuous labels", lambda X, y: (X[:2], np.array([0.5, 1.5])), ValueError, "Unknown label type"),
    ("2-D labels", lambda X, y: (X[:2], np.zeros((2, 2))), ValueError, "y should be a 1d array"),
]


@pytest.mark.parametrize(("case", "make", "exc", "message"), TEACH_CASES, ids=[c[0] for c in TEACH_CASES])
def test_teach_rejects(fitted, data, case, make, exc, message):
    X_new, y_new = make(*data[:2])
    assert_rejected(lambda: fitted.teach(X_new, y_new), exc, message, fitted, X_new, y_new)


def test_teach_numbers_into_string_labels(data):
    X, y, pool = data
    learner = ActiveLearningClassifier().fit(X, y.astype(str))
    assert_rejected(
        lambda: learner.teach(pool[:2], np.array([1, 2])), TypeError,
        r"y has dtype int64 \(numbers\) but the labelled set has <U21 labels \(strings\)", learner,
    )
    # Object arrays of strings are strings.
    learner.teach(pool[:2], np.array(["1", "2"], dtype=object))
    assert len(learner.y_labeled_) == 82


def test_teach_before_fit(data):
    learner = ActiveLearningClassifier()
    assert_rejected(lambda: learner.teach(data[0], data[1]), NotFittedError, "not fitted yet", learner)


def test_feature_names_must_match_between_fit_query_and_teach(data):
    pd = pytest.importorskip("pandas")
    X, y, pool = data
    columns = [f"f{i}" for i in range(64)]
    learner = ActiveLearningClassifier().fit(pd.DataFrame(X, columns=columns), y)
    reordered = pd.DataFrame(pool, columns=columns[::-1])
    renamed = pd.DataFrame(pool[:2], columns=[c.upper() for c in columns])
    match = "The feature names should match those that were passed during fit"
    assert_rejected(lambda: learner.query(reordered), ValueError, match, learner, reordered)
    assert_rejected(lambda: learner.teach(renamed, y[:2]), ValueError, match, learner, renamed)
    # A pool without names is scikit-learn's warning, not an error; the rows are the same.
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        idx = learner.query(pool, n_instances=4)
    np.testing.assert_array_equal(idx, learner.query(pd.DataFrame(pool, columns=columns), n_instances=4))


FIT_CASES = [
    ("budget > rows", dict(budget=81), ValueError, r"budget=81 exceeds the number of rows in X \(80\)"),
    ("n_initial > budget", dict(budget=10, n_initial=20), ValueError, "n_initial=20 must not exceed budget=10"),
    ("unknown strategy", dict(query_strategy="nope"), ValueError, r"query_strategy='nope' is not a known strategy; valid names are \['adaptive', 'badge', 'bald', 'batch_bald', 'binary_minimization', 'cluster_margin'"),
    ("strategy type", dict(query_strategy=3), ValueError, "query_strategy"),
    ("strategy class", dict(query_strategy=ActiveLearningClassifier), ValueError, "'query_strategy' parameter .* an object implementing 'select'"),
    ("batch_size 0", dict(batch_size=0), ValueError, "batch_size' parameter .* must be an int in the range"),
    ("batch_size bool", dict(batch_size=True), TypeError, "batch_size must be an integer, got True"),
    ("budget bool", dict(budget=True), TypeError, "budget must be an integer, got True"),
    ("budget float", dict(budget=2.5), ValueError, "'budget' parameter"),
    ("device", dict(device="tpu"), ValueError, r"device must be 'cpu', 'cuda' or 'cuda:N' \(N a CUDA device index\), got 'tpu'"),
    ("device type", dict(device=0), ValueError, "'device' parameter"),
    ("estimator", dict(estimator="svm"), ValueError, "'estimator' parameter"),
    ("estimator callable", dict(estimator=len), TypeError, "estimator must be a scikit-learn classifier, a skorch net or a torch.nn.Module class or instance, got builtin_function_or_method"),
    ("n_initial 0", dict(n_initial=0), ValueError, "'n_initial' parameter .* in the range \\[1, inf\\)"),
    ("n_jobs 0", dict(n_jobs=0), ValueError, r"'n_jobs' parameter .* an int in the range \(-inf, -1\], an int in the range \[1, inf\) or None. Got 0"),
    ("n_jobs str", dict(n_jobs="2"), ValueError, "'n_jobs' parameter"),
    ("random_state str", dict(random_state="x"), ValueError, "'random_state' parameter"),
    ("verbose str", dict(verbose="x"), ValueError, "'verbose' parameter"),
    ("stopping element", dict(stopping=[3]), TypeError, "stopping must be a stopping criterion or a list of them, got an element of type int"),
    # The first fit of a simulation is on the n_initial rows alone: too few for the estimator
    # is said in terms of n_initial, with scikit-learn's own message after it.
    ("PCA wider than the initial rows", dict(estimator=make_pipeline(PCA(n_components=30), LogisticRegression(max_iter=1000)), budget=40, n_initial=10), ValueError, r"the estimator failed on the initial labelled set: n_initial=10 rows of 80, holding 10 of the 10 classes; raise n_initial to at least n_components=30, or lower n_components to at most 10. The estimator said: n_components=30 must be between 0 and min\(n_samples, n_features\)=10"),
    ("one initial row", dict(budget=40, n_initial=1), ValueError, "n_initial=1 rows of 80, holding 1 of the 10 classes; raise n_initial to at least 10, one row per class. The estimator said: This solver needs samples of at least 2 classes"),
]


@pytest.mark.parametrize(("case", "params", "exc", "message"), FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_fit_rejects_parameters(fitted, data, case, params, exc, message):
    X, y, _ = data
    before = snapshot(fitted)
    fitted.set_params(**params)
    with pytest.raises(exc, match=message):
        fitted.fit(X, y)
    fitted.set_params(**ActiveLearningClassifier(batch_size=5, random_state=0).get_params())
    assert snapshot(fitted) == before


@pytest.mark.parametrize(
    ("params", "on_round", "exc", "message"),
    [
        (dict(budget=30), 3, TypeError, "on_round must be a callable or None, got int 3"),
        ({}, print, ValueError, r"on_round is called after each round of a simulated fit, but budget=None makes fit an ordinary fit on all of \(X, y\); set budget to simulate"),
    ],
    ids=["not callable", "no simulation"],
)
def test_fit_rejects_on_round(fitted, data, params, on_round, exc, message):
    X, y, _ = data
    fitted.set_params(**params)
    before = snapshot(fitted)
    assert_rejected(lambda: fitted.fit(X, y, on_round=on_round), exc, message, fitted)
    assert snapshot(fitted) == before


FIT_DATA_CASES = [
    ("empty X", lambda X, y: (X[:0], y[:0]), ValueError, r"0 sample\(s\)"),
    ("1-D X", lambda X, y: (X[:, 0], y), ValueError, "Expected 2D array, got 1D"),
    ("3-D X", lambda X, y: (X.reshape(80, 8, 8), y), ValueError, "Found array with dim 3"),
    ("zero features", lambda X, y: (X[:, :0], y), ValueError, r"0 feature\(s\)"),
    ("NaN in X", lambda X, y: (np.where(X > 0.9, np.nan, X), y), ValueError, "Input X contains NaN"),
    ("NaN in y", lambda X, y: (X, np.where(y == 3, np.nan, y)), ValueError, "Input y contains NaN"),
    ("y None", lambda X, y: (X, None), ValueError, "requires y to be passed"),
    ("length mismatch", lambda X, y: (X, y[:-1]), ValueError, "inconsistent numbers of samples"),
    ("continuous y", lambda X, y: (X, y + 0.5), ValueError, "Unknown label type"),
    ("one class for logistic regression", lambda X, y: (X, np.zeros(80)), ValueError, "at least 2 classes"),
]


@pytest.mark.parametrize(("case", "make", "exc", "message"), FIT_DATA_CASES, ids=[c[0] for c in FIT_DATA_CASES])
def test_fit_rejects_data(fitted, data, case, make, exc, message):
    X, y = make(*data[:2])
    assert_rejected(lambda: fitted.fit(X, y), exc, message, fitted, X, y)


STRATEGY_PARAMETER_CASES = [
    # Strategies that train in fit (through their update hook) refuse there, the others in
    # their first query.
    ("coreset metric", "CoreSet", dict(metric="manhattan"), "query", "'metric' parameter of CoreSet must be a str among"),
    ("density beta", "InformationDensity", dict(beta=-1.0), "query", "'beta' parameter of InformationDensity must be a float in the range"),
    ("typiclust n_neighbors", "TypiClust", dict(n_neighbors=0), "query", "'n_neighbors' parameter of TypiClust"),
    ("eer candidates", "ExpectedErrorReduction", dict(n_candidates=0), "query", "'n_candidates' parameter of ExpectedErrorReduction"),
    ("committee of one", "VoteEntropy", dict(n_members=1), "fit", "'n_members' parameter of VoteEntropy"),
    ("batch_bald max_candidates", "BatchBALD", dict(max_candidates=0), "fit", "'max_candidates' parameter of BatchBALD must be an int in the range"),
    ("epsilon above 1", "EpsilonGreedy", dict(epsilon=2.0), "fit", "'epsilon' parameter of EpsilonGreedy"),
]


@pytest.mark.parametrize(("case", "cls", "params", "when", "message"), STRATEGY_PARAMETER_CASES, ids=[c[0] for c in STRATEGY_PARAMETER_CASES])
def test_strategy_parameters_are_checked(data, case, cls, params, when, message):
    import activekit.strategies as strategies

    X, y, pool = data
    learner = ActiveLearningClassifier(query_strategy=getattr(strategies, cls)(**params))
    if when == "fit":
        assert_rejected(lambda: learner.fit(X, y), ValueError, message, learner, X, y)
    else:
        learner.fit(X, y)
        assert_rejected(lambda: learner.query(pool), ValueError, message, learner, pool)


DELEGATE_CASES = [
    ("predict NaN", "predict", NAN_POOL, ValueError, "Input X contains NaN"),
    ("predict_proba feature count", "predict_proba", np.zeros((2, 3)), ValueError, "X has 3 features, but"),
    ("decision_function 1-D", "decision_function", np.zeros(64), ValueError, "Expected 2D array"),
    ("should_stop 3-D pool", "should_stop", np.zeros((2, 8, 8)), ValueError, "Found array with dim 3"),
]


@pytest.mark.parametrize(("case", "method", "X_bad", "exc", "message"), DELEGATE_CASES, ids=[c[0] for c in DELEGATE_CASES])
def test_delegated_methods_reject(fitted, case, method, X_bad, exc, message):
    assert_rejected(lambda: getattr(fitted, method)(X_bad), exc, message, fitted, X_bad)


def test_score_rejects_unequal_lengths(fitted, data):
    X, y, _ = data
    assert_rejected(lambda: fitted.score(X, y[:-1]), ValueError, "inconsistent numbers of samples", fitted)


def test_inputs_are_never_written(data):
    X, y, pool = data
    for a in (X, y, pool):
        a.setflags(write=False)
    learner = ActiveLearningClassifier(budget=30, random_state=0).fit(X, y)
    learner.query(pool)
    learner.teach(pool[:2], y[:2])
    assert not any(a.flags.writeable for a in (X, y, pool))


# -- evaluate_strategies ----------------------------------------------------------------------

EVALUATE_CASES = [
    ("strategies None", dict(strategies=None), TypeError, "strategies must be a list of strategy names or objects, got NoneType"),
    ("strategies a string", dict(strategies="margin"), TypeError, r"got str 'margin'; write strategies=\['margin'\]"),
    ("test_size above 1", dict(test_size=1.5), ValueError, "test_size must be a fraction in \\(0, 1\\) or a row count, got 1.5"),
    ("test_size 0", dict(test_size=0), ValueError, "row count between 1 and 1796, got 0"),
    ("test_size str", dict(test_size="a"), TypeError, "test_size must be a fraction .* got str 'a'"),
    ("seeds float", dict(seeds=2.0), TypeError, "seeds must be a positive integer or a list of integers, got 2.0"),
    ("seeds negative", dict(seeds=[-1]), ValueError, r"seeds must be between 0 and 2\*\*32 - 1"),
    ("NaN in X", dict(X=np.full((40, 2), np.nan)), ValueError, "Input X contains NaN"),
    ("n_initial below the classes", dict(n_initial=5), ValueError, r"n_initial=5 is too small for a stratified initial draw: y has 10 classes, so n_initial must be at least 10 \(one row per class\)"),
    ("n_initial above the budget", dict(n_initial=21), ValueError, "n_initial=21 must not exceed budget=20"),
    ("held-out rows below the classes", dict(test_size=4), ValueError, "test_size=4 holds out 4 rows, fewer than the 10 classes of y"),
]


@pytest.mark.parametrize(("case", "kwargs", "exc", "message"), EVALUATE_CASES, ids=[c[0] for c in EVALUATE_CASES])
def test_evaluate_strategies_rejects(digits, case, kwargs, exc, message):
    X, y = digits
    call = {"X": X, "y": y, "budget": 20, "seeds": 1, **kwargs}
    if "X" in kwargs:
        call["y"] = np.arange(len(kwargs["X"])) % 2
    assert_rejected(lambda: evaluate_strategies(**call), exc, message, call)


# -- the command line: one line on stderr, exit status 2 --------------------------------------

CLI_CASES = [
    ("single-class CSV", ["--dataset", "{one}", "--target", "y"], "the target column 'y' holds the single class '0'"),
    ("output is a file", ["--dataset", "iris", "--output", "{one}"], "cannot create the output folder"),
    ("dataset is a folder", ["--dataset", "{dir}", "--target", "y"], "Is a directory"),
    ("empty CSV", ["--dataset", "{empty}", "--target", "y"], "needs a header row and at least one data row"),
    ("initial below the classes", ["--dataset", "iris", "--initial", "2"], "--initial 2 is too small: iris has 3 classes and the initial set needs a row of each, so --initial must be at least 3"),
    ("misspelt strategy", ["--strategies", "least_confidnt"], "unknown strategy 'least_confidnt'; did you mean 'least_confident'?"),
    ("negative budget", ["--budget", "-5"], "argument --budget: expected a positive integer, got -5"),
]


@pytest.mark.parametrize(("case", "argv", "message"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_rejects(tmp_path, capsys, case, argv, message):
    (tmp_path / "one.csv").write_text("a,y\n" + "".join(f"{i},0\n" for i in range(30)))
    (tmp_path / "empty.csv").write_text("")
    paths = {"one": tmp_path / "one.csv", "empty": tmp_path / "empty.csv", "dir": tmp_path}
    argv = [a.format(**paths) for a in argv]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as info:
        main(["benchmark", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("activekit: error:")
