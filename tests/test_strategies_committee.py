"""Query by committee: hand-computed disagreement, the committee's training (bootstrap seeds,
class alignment, refits, all-or-nothing), and the four strategies in the learner."""

import inspect
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Perceptron
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from activekit import ActiveLearningClassifier
from activekit._random import draw_seed
from activekit.strategies import (
    BALD,
    BatchBALD,
    ConsensusEntropy,
    MaxDisagreement,
    MeanSTD,
    VariationRatio,
    VoteEntropy,
    get_strategy,
)
from activekit.strategies._posterior import ATTRIBUTE_DOCS, PARAMETER_DOCS
from support.reference import committee_scores as ref_committee
from support.reference import vote_scores as ref_votes

STRATEGIES = [VoteEntropy, ConsensusEntropy, MaxDisagreement, VariationRatio]
NAMES = ["vote_entropy", "consensus_entropy", "max_disagreement", "variation_ratio"]


def H(*p):
    return -sum(x * np.log(x) for x in p if x > 0)


class Fixed(ClassifierMixin, BaseEstimator):
    """A member whose probabilities on pool row ``i`` (the value of its one feature) are
    ``probs[i]``, over the classes ``seen`` (the labelled set's when None)."""

    def __init__(self, probs=None, seen=None):
        self.probs = probs
        self.seen = seen

    def fit(self, X, y):
        self.classes_ = np.unique(y) if self.seen is None else np.asarray(self.seen)
        return self

    def predict_proba(self, X):
        return np.asarray(self.probs, dtype=float)[np.asarray(X)[:, 0].astype(int)]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class FailsAbove(ClassifierMixin, BaseEstimator):
    """A member whose fit fails once the labelled set has more than ``n`` rows."""

    def __init__(self, n=20):
        self.n = n

    def fit(self, X, y):
        if len(y) > self.n:
            raise RuntimeError(f"cannot learn from more than {self.n} rows")
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


# Hand-computed disagreement on a tiny committee. Three members, classes 0, 1, 2; member 1
# never saw class 2 and member 2 never saw class 1, so their columns must be aligned.
#   member 0 (0, 1, 2):  row 0: (1, 0, 0)   row 1: (.5, .5, 0)   row 2: (.2, .3, .5)
#   member 1 (0, 1):     row 0: (0, 1)      row 1: (.5, .5)      row 2: (.6, .4)
#   member 2 (0, 2):     row 0: (0, 1)      row 1: (.5, .5)      row 2: (1, 0)
TINY = [
    Fixed([[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]]),
    Fixed([[0, 1], [0.5, 0.5], [0.6, 0.4]], seen=[0, 1]),
    Fixed([[0, 1], [0.5, 0.5], [1, 0]], seen=[0, 2]),
]
# Consensus of row 1: (.5, 1/3, 1/6); of row 2: (.6, .7/3, .5/3). Votes (argmax, first
# maximum): row 0: 0, 1, 2; row 1: 0, 0, 0; row 2: 2, 0, 0.
TINY_SCORES = {
    "consensus_entropy": [np.log(3), H(0.5, 1 / 3, 1 / 6), H(0.6, 0.7 / 3, 0.5 / 3)],
    "max_disagreement": [
        np.log(3),  # one-hot members: the consensus entropy
        H(0.5, 1 / 3, 1 / 6) - np.log(2),  # every member has entropy ln 2
        H(0.6, 0.7 / 3, 0.5 / 3) - (H(0.2, 0.3, 0.5) + H(0.6, 0.4)) / 3,
    ],
    "vote_entropy": [np.log(3), 0.0, H(1 / 3, 2 / 3)],
    "variation_ratio": [2 / 3, 0.0, 1 / 3],
}


def tiny_learner(strategy):
    X_lab = np.array([[0.0], [1.0], [2.0], [0.5], [1.5], [2.5]])
    y_lab = np.array([0, 1, 2, 0, 1, 2])
    return ActiveLearningClassifier(query_strategy=strategy).fit(X_lab, y_lab)


@pytest.mark.parametrize("cls", STRATEGIES)
def test_hand_computed_disagreement(cls):
    learner = tiny_learner(cls(committee=TINY))
    strategy = learner.query_strategy_
    pool = np.array([[0.0], [1.0], [2.0]])
    assert_allclose(strategy.score(learner, pool), TINY_SCORES[cls.name], atol=1e-12)
    idx, scores = learner.query(pool, n_instances=3, return_scores=True)
    assert_array_equal(idx, np.argsort(-np.asarray(TINY_SCORES[cls.name]), kind="stable"))
    assert_allclose(scores, np.asarray(TINY_SCORES[cls.name])[idx], atol=1e-12)


def test_members_without_a_class_get_zero_columns():
    learner = tiny_learner(MaxDisagreement(committee=TINY))
    probs = learner.query_strategy_.member_probabilities(np.array([[0.0], [1.0], [2.0]]))
    assert probs.shape == (3, 3, 3)
    assert_array_equal(probs[1], [[0, 1, 0], [0.5, 0.5, 0], [0.6, 0.4, 0]])
    assert_array_equal(probs[2], [[0, 0, 1], [0.5, 0, 0.5], [1, 0, 0]])


def test_bootstrap_members_that_lack_a_class_are_aligned(digits):
    X, y = digits
    # Class 2 has one row of 12: a bootstrap resample misses it with probability ~0.35.
    lab = np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:5],
                          np.flatnonzero(y == 2)[:1]])
    learner = ActiveLearningClassifier(
        GaussianNB(), query_strategy=ConsensusEntropy(n_members=6), random_state=0
    ).fit(X[lab], y[lab])
    strategy = learner.query_strategy_
    lacking = [m for m in strategy.members_ if len(m.classes_) == 2]
    assert lacking, "with this seed some replica misses class 2"
    pool = X[600 - 50:]
    probs = strategy.member_probabilities(pool)
    for i, member in enumerate(strategy.members_):
        columns = np.searchsorted([0, 1, 2], member.classes_)
        assert_allclose(probs[i][:, columns], member.predict_proba(pool))
        missing = np.setdiff1d([0, 1, 2], member.classes_)
        assert_array_equal(probs[i][:, missing], 0.0)
    assert_allclose(strategy.score(learner, pool), ref_committee(probs, "consensus_entropy"),
                    atol=1e-12)


# The default committee: bootstrap replicas, seeded from the learner's random_state.

def test_bootstrap_replicas_follow_the_seed(digits):
    X, y = digits
    X_lab, y_lab = X[:80], y[:80]
    learner = ActiveLearningClassifier(
        DecisionTreeClassifier(max_features=8), query_strategy=VoteEntropy(n_members=3),
        random_state=7,
    ).fit(X_lab, y_lab)
    # The recipe: member seeds from the learner's random_state, each seed drawing the rows of
    # its resample and becoming the replica's own random_state.
    seeds = draw_seed(np.random.RandomState(7), size=3)
    for member, seed in zip(learner.query_strategy_.members_, seeds, strict=True):
        rows = np.random.RandomState(seed).randint(80, size=80)
        want = DecisionTreeClassifier(max_features=8, random_state=int(seed))
        want.fit(X_lab[rows], y_lab[rows])
        assert member.get_params()["random_state"] == seed
        assert_array_equal(member.tree_.feature, want.tree_.feature)
        assert_array_equal(member.tree_.threshold, want.tree_.threshold)
    again = clone(learner).fit(X_lab, y_lab)
    pool = X[300:]
    assert_array_equal(again.query(pool), learner.query(pool))
    other = clone(learner).set_params(random_state=8).fit(X_lab, y_lab)
    first = [learner.query_strategy_.members_[0], other.query_strategy_.members_[0]]
    assert not np.array_equal(first[0].tree_.threshold, first[1].tree_.threshold)


def test_nested_random_states_are_seeded_per_replica(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3))
    learner = ActiveLearningClassifier(
        pipe, query_strategy=MaxDisagreement(n_members=3), random_state=0
    ).fit(X[:60], y[:60])
    states = [m.get_params()["randomforestclassifier__random_state"]
              for m in learner.query_strategy_.members_]
    assert len(set(states)) == 3 and all(isinstance(s, int) for s in states)
    assert pipe.get_params()["randomforestclassifier__random_state"] is None, "not mutated"


def test_resamples_keep_two_classes():
    # Two labelled rows of two classes: half of all resamples hold one class; none may.
    X_lab, y_lab = np.array([[0.0], [1.0]]), np.array([0, 1])
    learner = ActiveLearningClassifier(
        DecisionTreeClassifier(), query_strategy=VoteEntropy(n_members=30), random_state=0
    ).fit(X_lab, y_lab)
    assert all(len(m.classes_) == 2 for m in learner.query_strategy_.members_)


# Errors.

def test_fewer_than_two_members_is_an_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match="committee must hold at least 2 estimators to disagree, got 1"):
        ActiveLearningClassifier(GaussianNB(), query_strategy=VoteEntropy(committee=[Perceptron()])).fit(X[:30], y[:30])
    with pytest.raises(ValueError, match="The 'n_members' parameter of VoteEntropy must be an int in the range \\[2, inf\\)"):
        ActiveLearningClassifier(GaussianNB(), query_strategy=VoteEntropy(n_members=1)).fit(X[:30], y[:30])
    with pytest.raises(TypeError, match=r"committee\[1\] must be an estimator with fit and predict methods, got str"):
        ActiveLearningClassifier(GaussianNB(), query_strategy=VoteEntropy(committee=[Perceptron(), "tree"])).fit(X[:30], y[:30])


def test_probability_measures_need_predict_proba(digits):
    X, y = digits
    strategy = ConsensusEntropy(committee=[Perceptron(), GaussianNB()])
    with pytest.raises(TypeError, match=r"'consensus_entropy' needs class probabilities, but committee\[0\] \(Perceptron\) has no predict_proba"):
        ActiveLearningClassifier(GaussianNB(), query_strategy=strategy).fit(X[:30], y[:30])
    # Votes need only predict.
    strategy = VoteEntropy(committee=[Perceptron(random_state=0), DecisionTreeClassifier(random_state=0)])
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy=strategy).fit(X[:60], y[:60])
    pool = X[100:200]
    votes = np.stack([m.predict(pool) for m in learner.query_strategy_.members_])
    assert_allclose(strategy_scores(learner, pool), ref_votes(votes, 10, "vote_entropy"), atol=1e-12)


def strategy_scores(learner, pool):
    return learner.query_strategy_.score(learner, pool)


def test_an_untrained_committee_says_so(digits):
    X, y = digits
    learner = ActiveLearningClassifier(GaussianNB()).fit(X[:30], y[:30])
    with pytest.raises(NotFittedError, match="has no trained committee yet"):
        MaxDisagreement().select(learner, X[30:40], 2)


# Refits: every training renews the committee, all or nothing.

def test_teach_refits_the_committee(digits):
    X, y = digits
    committee = [GaussianNB(), DecisionTreeClassifier(random_state=0)]
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy=ConsensusEntropy(committee=committee))
    learner.fit(X[:40], y[:40])
    before = learner.query_strategy_
    before_members = before.members_
    assert before_members[0].theta_.shape == (10, 64)
    learner.teach(X[40:70], y[40:70])
    after = learner.query_strategy_
    assert after is not before and before.members_ is before_members, "replaced, not mutated"
    assert all(a is not b for a, b in zip(after.members_, before_members, strict=True))
    want = GaussianNB().fit(X[:70], y[:70])
    assert_allclose(after.members_[0].theta_, want.theta_)
    assert not np.allclose(after.members_[0].theta_, before_members[0].theta_)
    assert not hasattr(committee[0], "theta_"), "the given estimators are cloned, not fitted"


def test_a_failing_member_leaves_learner_and_committee_as_before(digits):
    X, y = digits
    strategy = VoteEntropy(committee=[GaussianNB(), FailsAbove(n=20)])
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy=strategy).fit(X[:20], y[:20])
    state = dict(learner.__dict__)
    committee = learner.query_strategy_
    members = list(committee.members_)
    pool = X[100:200]
    picks = learner.query(pool, n_instances=5)
    with pytest.raises(RuntimeError, match="more than 20 rows"):
        learner.teach(X[20:25], y[20:25])
    assert learner.__dict__.keys() == state.keys()
    assert all(learner.__dict__[k] is state[k] for k in state)
    assert learner.query_strategy_ is committee
    assert all(a is b for a, b in zip(committee.members_, members, strict=True))
    assert len(learner.y_labeled_) == 20
    assert_array_equal(learner.query(pool, n_instances=5), picks)


# The learner in a simulation, with each strategy.

@pytest.mark.parametrize("name", NAMES)
def test_simulation_with_each_strategy(digits, name):
    X, y = digits
    sim = ActiveLearningClassifier(
        GaussianNB(), query_strategy=get_strategy(name).set_params(n_members=3),
        budget=40, batch_size=10, random_state=0,
    ).fit(X, y)
    assert len(sim.labeled_indices_) == 40 == len(np.unique(sim.labeled_indices_))
    assert sim.n_queries_ == 3
    strategy = sim.query_strategy_
    assert len(strategy.members_) == 3
    assert_array_equal(strategy.classes_, sim.classes_)
    # The last round's committee was trained on the final labelled set (bootstrap rows of it).
    assert all(set(m.classes_) <= set(sim.classes_) for m in strategy.members_)
    again = clone(sim).fit(X, y)
    assert_array_equal(again.labeled_indices_, sim.labeled_indices_)
    # The query agrees with the NumPy reference on the members' own outputs.
    pool = X[np.setdiff1d(np.arange(len(X)), sim.labeled_indices_)]
    if strategy._votes:
        votes = np.stack([np.searchsorted(sim.classes_, m.predict(pool))
                          for m in strategy.members_])
        ref = ref_votes(votes, len(sim.classes_), name)
    else:
        ref = ref_committee(strategy.member_probabilities(pool), name)
    idx, scores = sim.query(pool, n_instances=8, return_scores=True)
    assert_allclose(scores, ref[idx], atol=1e-12)
    assert scores.min() >= np.sort(ref)[-8] - 1e-12


def test_string_labels_and_sparse_features(digits):
    X, y = digits
    labels = np.array(list("abcdefghij"))[y]
    Xs = sp.csr_matrix(X)
    for strategy in (VariationRatio(n_members=3), MaxDisagreement(n_members=3)):
        learner = ActiveLearningClassifier(
            DecisionTreeClassifier(max_depth=5), query_strategy=strategy, random_state=0
        )
        learner.fit(Xs[:50], labels[:50]).teach(Xs[50:60], labels[50:60])
        assert learner.query(Xs[100:200], n_instances=4).shape == (4,)


# Estimator sanity: clone, pickle, grid search parameters.

@pytest.mark.parametrize("cls", STRATEGIES)
def test_clone_and_pickle(digits, cls):
    X, y = digits
    strategy = cls(committee=[GaussianNB(), DecisionTreeClassifier()])
    cloned = clone(strategy)
    assert cloned.committee[0] is not strategy.committee[0]
    assert cloned.get_params(deep=False).keys() == {"committee", "n_members", "n_samples"}
    assert not hasattr(cloned, "members_")
    learner = ActiveLearningClassifier(GaussianNB(), query_strategy=cls(n_members=2),
                                       random_state=0)
    learner.fit(X[:50], y[:50])
    restored = pickle.loads(pickle.dumps(learner))
    pool = X[200:300]
    assert_array_equal(restored.query(pool), learner.query(pool))
    assert not hasattr(clone(learner).set_params(query_strategy=cls()), "query_strategy_")


@parametrize_with_checks([
    ActiveLearningClassifier(DecisionTreeClassifier(max_depth=4, random_state=0), query_strategy=MaxDisagreement()),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# The parameters every committee and Bayesian strategy shares are documented from one text.

POSTERIOR_CLASSES = [*STRATEGIES, BALD, MeanSTD, BatchBALD]


@pytest.mark.parametrize("cls", POSTERIOR_CLASSES, ids=lambda cls: cls.__name__)
def test_shared_parameters_are_documented_from_one_text(cls):
    doc = inspect.cleandoc(cls.__doc__)
    params = list(inspect.signature(cls).parameters)
    assert params[:3] == list(PARAMETER_DOCS)
    for entries in (PARAMETER_DOCS, ATTRIBUTE_DOCS):
        for name, text in entries.items():
            assert text.startswith(f"{name} : ")
            assert text in doc, f"{cls.__name__} lacks the shared entry for {name}"
            assert doc.count(f"\n{name} : ") == 1
    assert "{posterior_" not in doc
    parameters = doc.index("Parameters\n----------\n" + PARAMETER_DOCS["committee"])
    attributes = doc.index("Attributes\n----------\n" + ATTRIBUTE_DOCS["members_"])
    assert parameters < attributes
    # Only BALD-like strategies may speak of BALD (MeanSTD's n_samples entry once did).
    if cls not in (BALD, BatchBALD):
        assert "BALD be" not in doc
