"""Posterior samples of the class probabilities, for the committee and Bayesian families: a
committee trained after every training of the learner (the estimators a user gives, or
bootstrap replicas of the learner's own, query by bagging, Abe and Mamitsuka 1998), or, when the
learner wraps a torch module (a skorch net) and no committee is given, MC dropout passes of the
trained module (Gal and Ghahramani 2016): training bootstrap replicas of a network would cost
``n_members`` trainings a round.
"""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from .._compat import Interval, _num_samples
from .._random import draw_seed
from ._base import QueryStrategy
from ._common import fill_docstring, torch_net

__all__ = ["ATTRIBUTE_DOCS", "PARAMETER_DOCS", "posterior_docstring"]

# A bootstrap resample with fewer than two classes (when the labelled set has two) is drawn
# again, at most this many times; then the labelled set itself is used. With the smallest
# labelled set that has two classes (two rows), 100 redraws all fail with probability 2**-100.
_MAX_REDRAWS = 100

#: The docstring entries of the parameters every posterior-sample strategy (committee and
#: Bayesian) takes: one text for all of them, placed by :func:`posterior_docstring`.
PARAMETER_DOCS = {
    "committee": """\
committee : list of estimators, default=None
    The posterior samples as a committee of models (a deep ensemble, say), each cloned and
    trained on the whole labelled set; at least 2. ``None`` means ``n_samples`` MC dropout
    passes of the learner's estimator when it is a torch module (a skorch net, also as a
    Pipeline's last step), else ``n_members`` bootstrap replicas of it.""",
    "n_members": f"""\
n_members : int, default=5
    Size of the default committee of an estimator that is not a torch module (at least 2);
    ignored when ``committee`` is given. Each replica is trained on a bootstrap resample of
    the labelled set (drawn again, at most {_MAX_REDRAWS} times, while it has fewer than two
    classes and the set has two; then the labelled set itself), with every ``random_state``
    parameter set to its own seed; the seeds are drawn from the learner's ``random_state``.""",
    "n_samples": """\
n_samples : int, default=20
    MC dropout passes ``T`` of a torch module (at least 2), standing in for the committee
    when ``committee`` is ``None``: dropout on and everything else in eval mode
    (:func:`activekit.torch.mc_dropout_proba`), the masks seeded by the ``random_state``
    that ``select`` receives. A module without a dropout layer is a ``ValueError`` at
    ``fit``: its passes would all be the same model.""",
}

#: The docstring entries of the attributes every posterior-sample strategy sets in ``update``.
ATTRIBUTE_DOCS = {
    "members_": """\
members_ : list of estimators or None
    The trained committee, renewed after every training of the learner; ``None`` when the
    samples are MC dropout passes.""",
    "classes_": """\
classes_ : ndarray of shape (n_classes,)
    The labelled set's classes at the last training: the columns of the samples' class
    probabilities and the meaning of their votes.""",
}


def posterior_docstring(cls):
    """Class decorator: the lines ``{posterior_parameters}`` and ``{posterior_attributes}``
    of the class's docstring become :data:`PARAMETER_DOCS` and :data:`ATTRIBUTE_DOCS`."""
    cls.__doc__ = fill_docstring(
        cls.__doc__,
        posterior_parameters="\n".join(PARAMETER_DOCS.values()),
        posterior_attributes="\n".join(ATTRIBUTE_DOCS.values()),
    )
    return cls



def _bootstrap(y, rng):
    """Rows of a bootstrap resample of ``y`` with at least as many classes as ``min(2, all)``."""
    n = len(y)
    need = min(2, len(np.unique(y)))
    for _ in range(_MAX_REDRAWS):
        rows = rng.randint(n, size=n)
        if len(np.unique(y[rows])) >= need:
            return rows
    return np.arange(n)


def _with_seed(estimator, seed):
    """``estimator`` with every ``random_state`` parameter, nested ones included, set to ``seed``
    (as scikit-learn's bagging does), so that replicas differ and a seed reproduces them."""
    if not callable(getattr(estimator, "get_params", None)):
        return estimator
    names = [
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]
    return estimator.set_params(**dict.fromkeys(names, seed)) if names else estimator


def _positions(classes, labels):
    """Position of each of ``labels`` in ``classes`` (in any order), and which were found."""
    sorter = np.argsort(classes, kind="stable")
    at = np.clip(np.searchsorted(classes, labels, sorter=sorter), 0, len(classes) - 1)
    positions = sorter[at]
    return positions, classes[positions] == labels


class _PosteriorSamples(QueryStrategy):
    """Strategies that read several plausible models' class probabilities of each pool row: a
    committee trained in :meth:`update`, or MC dropout passes of the learner's torch module.

    Subclasses set ``name``; ``_votes`` says whether they read the members' votes
    (``predict``) rather than their probabilities (``predict_proba``).
    """

    _votes: ClassVar[bool] = False

    _parameter_constraints: dict = {  # noqa: RUF012
        "committee": [list, tuple, None],
        "n_members": [Interval(Integral, 2, None, closed="left")],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(self, committee=None, n_members=5, n_samples=20):
        self.committee = committee
        self.n_members = n_members
        self.n_samples = n_samples

    # -- training (called by the learner after every training) -----------------------------

    def _check_member(self, member, what):
        methods = (getattr(member, "fit", None), getattr(member, "predict", None))
        if not all(callable(method) for method in methods):
            raise TypeError(
                f"{what} must be an estimator with fit and predict methods, got "
                f"{type(member).__name__}"
            )
        if not self._votes and not hasattr(member, "predict_proba"):
            raise TypeError(
                f"query_strategy={self.name!r} needs class probabilities, but {what} "
                f"({type(member).__name__}) has no predict_proba; use estimators with "
                "predict_proba, or a vote measure ('vote_entropy', 'variation_ratio')"
            )

    def _unfitted_members(self, learner):
        """The members to train, and each one's bootstrap rows (``None``: every row)."""
        if self.committee is not None:
            if len(self.committee) < 2:
                raise ValueError(
                    f"committee must hold at least 2 estimators to disagree, got "
                    f"{len(self.committee)}"
                )
            members = []
            for i, estimator in enumerate(self.committee):
                self._check_member(estimator, f"committee[{i}]")
                members.append(clone(estimator))
            return members, [None] * len(members)
        self._check_member(learner.estimator_, "the learner's estimator")
        rng = check_random_state(learner.random_state)
        seeds = draw_seed(rng, size=self.n_members)
        y = np.asarray(learner.y_labeled_)
        members, samples = [], []
        for seed in seeds:
            members.append(_with_seed(clone(learner.estimator_), int(seed)))
            samples.append(_bootstrap(y, np.random.RandomState(seed)))
        return members, samples

    def _check_dropout(self, net):
        from .._torch_inference import has_dropout  # torch is imported already: a net exists

        if not has_dropout(net.module_):
            raise ValueError(
                f"query_strategy={self.name!r} samples the torch module with MC dropout, but "
                f"{type(net.module_).__name__} has no dropout layer (torch.nn.Dropout and kin, "
                f"p > 0): its {self.n_samples} passes would agree and every disagreement "
                "(BALD's mutual information included) would be identically zero. Add dropout "
                "to the module, or give trained-apart models as committee=[...]"
            )

    def update(self, learner):
        """Train the committee on the learner's labelled set, or get ready to sample the
        learner's torch module with MC dropout.

        Called by the learner after every training, on a copy of the strategy that it keeps
        only if the step succeeds: ``members_`` and ``classes_`` are replaced, never changed in
        place, so a member that fails to fit leaves the previous committee as it was.

        Parameters
        ----------
        learner : ActiveLearningClassifier
            Fitted: its ``X_labeled_``, ``y_labeled_``, ``classes_``, ``estimator_`` (the
            estimator replicated by default, or the torch net to sample) and ``random_state``
            (the bootstrap seeds) are read.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If the samples would come from MC dropout and the torch module has no dropout.
        """
        self._validate_params()
        classes = np.asarray(learner.classes_)
        net = torch_net(learner.estimator_) if self.committee is None else None
        if net is not None:
            self._check_dropout(net)
            self.members_ = None
            self.classes_ = classes
            return self
        X, y = learner.X_labeled_, np.asarray(learner.y_labeled_)
        members, samples = self._unfitted_members(learner)
        for i, (member, rows) in enumerate(zip(members, samples, strict=True)):
            if rows is None:
                member.fit(X, y)
            else:
                member.fit(X[rows], y[rows])
            _, known = _positions(classes, np.asarray(member.classes_))
            if not known.all():
                raise ValueError(
                    f"committee member {i} has classes "
                    f"{np.asarray(member.classes_)[~known].tolist()} that the labelled set "
                    f"does not have (its classes are {classes.tolist()})"
                )
        self.members_ = members
        self.classes_ = classes
        return self

    # -- the samples -------------------------------------------------------------------------

    def _check_trained(self):
        if not hasattr(self, "members_"):
            raise NotFittedError(
                f"this {type(self).__name__} has no trained committee yet; "
                "ActiveLearningClassifier trains it after every fit and teach, by calling "
                "update(learner), which must come before score, rank or select"
            )
        if len(self.classes_) < 2:
            raise ValueError(
                f"query_strategy={self.name!r} needs a committee trained on at least 2 "
                f"classes; the labelled set has only the class {self.classes_.tolist()}"
            )

    def _member_votes(self, X_pool):
        """Each member's predicted class of each row, as a position in ``classes_``."""
        votes = np.empty((len(self.members_), _num_samples(X_pool)), dtype=np.int64)
        for i, member in enumerate(self.members_):
            labels = np.asarray(member.predict(X_pool))
            positions, known = _positions(self.classes_, labels)
            if not known.all():
                raise ValueError(
                    f"committee member {i} predicted {labels[~known][0]!r}, which is not one "
                    f"of the labelled set's classes {self.classes_.tolist()}"
                )
            votes[i] = positions
        return votes

    def member_probabilities(self, X_pool):
        """Every member's class probabilities on the pool, aligned to ``classes_``.

        A member trained on a resample that lacked some classes gets probability 0 for them.

        Parameters
        ----------
        X_pool : {array-like, sparse matrix} of shape (n_pool, n_features)

        Returns
        -------
        probs : ndarray of shape (n_members, n_pool, n_classes)
            float32 if the first member's probabilities are float32, else float64.
        """
        self._check_trained()
        if self.members_ is None:
            raise ValueError(
                f"this {type(self).__name__} samples the learner's torch module with MC "
                "dropout and has no committee; activekit.torch.mc_dropout_proba(estimator, "
                "X) draws the samples"
            )
        n, c = _num_samples(X_pool), len(self.classes_)
        probs = None
        for i, member in enumerate(self.members_):
            p = np.asarray(member.predict_proba(X_pool))
            if probs is None:
                dtype = np.float32 if p.dtype == np.float32 else np.float64
                probs = np.zeros((len(self.members_), n, c), dtype=dtype)
            columns, _ = _positions(self.classes_, np.asarray(member.classes_))
            if p.shape != (n, len(columns)):
                raise ValueError(
                    f"committee member {i} returned probabilities of shape {p.shape}; expected "
                    f"({n}, {len(columns)}), one column per class it was trained on"
                )
            if np.array_equal(columns, np.arange(c)):
                probs[i] = p
            else:
                probs[i][:, columns] = p
        return probs

    def _mc_dropout(self, learner, X_pool, random_state):
        from .._torch_inference import mc_dropout_proba  # a net exists: torch is imported

        probs = mc_dropout_proba(
            learner.estimator_, X_pool, n_samples=self.n_samples, random_state=random_state
        )
        expected = (self.n_samples, _num_samples(X_pool), len(self.classes_))
        if probs.shape != expected:
            raise ValueError(
                f"MC dropout gave probabilities of shape {probs.shape}; expected {expected}, "
                f"one column per class {self.classes_.tolist()}"
            )
        return probs

    def sample_probabilities(self, learner, X_pool, random_state=None):
        """The posterior samples' class probabilities of every pool row.

        Parameters
        ----------
        learner : ActiveLearningClassifier
            The learner whose training last called :meth:`update`.
        X_pool : {array-like, sparse matrix} of shape (n_pool, n_features)
        random_state : int, RandomState instance or None, default=None
            Seeds the MC dropout masks (see :func:`activekit.torch.mc_dropout_proba`); a
            committee's probabilities do not depend on it.

        Returns
        -------
        probs : ndarray of shape (n_members or n_samples, n_pool, n_classes)
            Aligned to ``classes_``: the committee's :meth:`member_probabilities`, or the
            ``n_samples`` MC dropout passes.
        """
        self._check_trained()
        if self.members_ is None:
            return self._mc_dropout(learner, X_pool, random_state)
        return self.member_probabilities(X_pool)

    def _sample_votes(self, learner, X_pool, random_state):
        """Each member's (or MC dropout pass's) predicted class, as a position in
        ``classes_``: ``predict`` for members, the most probable class (lowest on ties) for
        passes."""
        self._check_trained()
        if self.members_ is None:
            probs = self._mc_dropout(learner, X_pool, random_state)
            return probs.argmax(axis=2).astype(np.int64)
        return self._member_votes(X_pool)
