"""The results of simulated active-learning runs: a tidy per-round table and its summaries."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .._dependencies import import_optional

__all__ = ["ActiveLearningResults"]

_FORMAT = "activekit.results/1"
COLUMNS = ("strategy", "seed", "round", "n_labeled", "score", "query_time", "fit_time")


def _plain(value):
    """JSON-safe Python scalars (NumPy scalars and NaN included)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _spread(mean, std, n_seeds, fmt):
    """``mean ± std`` over seeds, or the one seed's value."""
    return fmt(mean) if n_seeds == 1 else f"{fmt(mean)} ± {fmt(std)}"


def _text_table(table, last_left=False):
    """Rows of cells as fixed-width text: the first column (and the last, if
    ``last_left``) left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    left = (0, len(widths) - 1) if last_left else (0,)
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    )


def normalized_auc(n_labeled, scores):
    """Area under a learning curve divided by its label range: the mean score over the curve.

    Examples
    --------
    >>> from activekit.evaluation import normalized_auc
    >>> normalized_auc([10, 20, 30], [0.5, 0.7, 0.7])
    0.65
    """
    n = np.asarray(n_labeled, dtype=float)
    s = np.asarray(scores, dtype=float)
    if len(n) == 1:
        return float(s[0])
    return float(np.sum((s[1:] + s[:-1]) / 2 * np.diff(n)) / (n[-1] - n[0]))


class ActiveLearningResults:
    """Per-round scores of simulated active learning: strategies x seeds.

    Made by :func:`activekit.evaluation.evaluate_strategies`; saved and loaded as JSON.

    Parameters
    ----------
    records : list of dict
        One per round of each run, with the keys ``strategy``, ``seed``, ``round``,
        ``n_labeled``, ``score``, ``query_time`` and ``fit_time``, and one per further metric
        (``metrics``).
    metadata : dict, default=None
        What was run: dataset, estimator, scoring, budget, and so on; ``runs`` lists each run's
        strategy, seed and stop reason; ``metrics`` the further metrics recorded, and
        ``lower_is_better`` those of them that are losses (their label savings count the
        labels to first fall to the baseline's final loss).

    Examples
    --------
    >>> from activekit.evaluation import ActiveLearningResults
    >>> rows = [
    ...     dict(strategy=s, seed=0, round=r, n_labeled=10 * (r + 1), score=sc,
    ...          query_time=0.0, fit_time=0.0)
    ...     for s, scores in {"random": [0.5, 0.6, 0.7], "margin": [0.5, 0.7, 0.8]}.items()
    ...     for r, sc in enumerate(scores)
    ... ]
    >>> results = ActiveLearningResults(rows)
    >>> results.strategies
    ['random', 'margin']
    >>> row = results.summary()[1]
    >>> row["strategy"], row["labels_to_target_mean"], round(row["label_savings_mean"], 3)
    ('margin', 20.0, 0.333)
    """

    def __init__(self, records, metadata=None):
        missing = [c for c in COLUMNS for r in records[:1] if c not in r]
        if missing:
            raise ValueError(f"records need the keys {list(COLUMNS)}; missing {missing}")
        self.records = [dict(r) for r in records]
        self.metadata = dict(metadata or {})

    def __repr__(self):
        return (
            f"ActiveLearningResults(strategies={self.strategies}, seeds={self.seeds}, "
            f"rounds={len(self.records)})"
        )

    def __eq__(self, other):
        return (
            isinstance(other, ActiveLearningResults)
            and _plain(self.records) == _plain(other.records)
            and _plain(self.metadata) == _plain(other.metadata)
        )

    @property
    def strategies(self):
        """Strategy names, in the order they were run."""
        return list(dict.fromkeys(r["strategy"] for r in self.records))

    @property
    def seeds(self):
        """Seeds, in the order they were run."""
        return list(dict.fromkeys(r["seed"] for r in self.records))

    @property
    def metrics(self):
        """What each round recorded: ``"score"``, then the further metrics by name."""
        return ["score", *self.metadata.get("metrics", [])]

    def lower_is_better(self, metric="score"):
        """Whether ``metric`` is a loss (the metadata's ``lower_is_better``)."""
        self._check_metric(metric)
        return metric in self.metadata.get("lower_is_better", [])

    def _check_metric(self, metric):
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {self.metrics}, got {metric!r}")

    # -- curves ------------------------------------------------------------------------

    def curve(self, strategy, seed, metric="score"):
        """``(n_labeled, values)`` of one run, in round order: ``metric`` (default: the
        score) after every round."""
        self._check_metric(metric)
        rows = sorted(
            (r for r in self.records if r["strategy"] == strategy and r["seed"] == seed),
            key=lambda r: r["round"],
        )
        if not rows:
            raise ValueError(f"no run with strategy={strategy!r} and seed={seed!r}")
        return (
            np.array([r["n_labeled"] for r in rows]),
            np.array([np.nan if r[metric] is None else r[metric] for r in rows], dtype=float),
        )

    def mean_curve(self, strategy, metric="score"):
        """``(n_labeled, mean, std)`` of ``metric`` over seeds at each labelled count.

        A run that stopped early contributes to the counts it reached.
        """
        self._check_metric(metric)
        by_count = {}
        for seed in self.seeds:
            try:
                counts, scores = self.curve(strategy, seed, metric)
            except ValueError:
                continue
            for n, s in zip(counts, scores, strict=True):
                by_count.setdefault(int(n), []).append(s)
        if not by_count:
            raise ValueError(f"no run with strategy={strategy!r}")
        counts = np.array(sorted(by_count))
        mean = np.array([np.mean(by_count[n]) for n in counts])
        std = np.array([np.std(by_count[n]) for n in counts])
        return counts, mean, std

    # -- summaries ---------------------------------------------------------------------

    def summary(self, baseline="random", metric="score"):
        """One row per strategy: final score, normalised area under the curve and label
        savings, each as mean and standard deviation over seeds.

        Label savings are measured against ``baseline``'s final mean score (the target): the
        labels a run needs to first reach the target, as a saving relative to the baseline's
        budget, ``1 - labels / baseline_labels``. A run that never reaches the target has no
        saving (NaN); ``reached`` counts those that do. Without the baseline, savings are NaN.

        Parameters
        ----------
        baseline : str, default="random"
        metric : str, default="score"
            One of :attr:`metrics`. For a loss (:meth:`lower_is_better`), a run reaches the
            target when its loss first falls to the baseline's final mean loss or below.

        Returns
        -------
        rows : list of dict
        """
        lower = self.lower_is_better(metric)
        target = baseline_labels = math.nan
        if baseline in self.strategies:
            finals = [self.curve(baseline, s, metric) for s in self.seeds if self._has(baseline, s)]
            target = float(np.mean([scores[-1] for _, scores in finals]))
            baseline_labels = float(np.mean([counts[-1] for counts, _ in finals]))
        rows = []
        for strategy in self.strategies:
            finals, aucs, needed, labels = [], [], [], []
            for seed in self.seeds:
                if not self._has(strategy, seed):
                    continue
                counts, scores = self.curve(strategy, seed, metric)
                finals.append(scores[-1])
                aucs.append(normalized_auc(counts, scores))
                labels.append(counts[-1])
                reached = scores <= target if lower else scores >= target
                hit = np.flatnonzero(reached) if math.isfinite(target) else []
                needed.append(float(counts[hit[0]]) if len(hit) else math.nan)
            needed = np.array(needed)
            savings = 1.0 - needed / baseline_labels
            reached = int(np.sum(np.isfinite(needed)))
            rows.append(
                {
                    "strategy": strategy,
                    "n_seeds": len(finals),
                    "n_labeled_mean": float(np.mean(labels)),
                    "final_score_mean": float(np.mean(finals)),
                    "final_score_std": float(np.std(finals)),
                    "auc_mean": float(np.mean(aucs)),
                    "auc_std": float(np.std(aucs)),
                    "target_score": target,
                    "reached": reached,
                    "labels_to_target_mean": float(np.nanmean(needed)) if reached else math.nan,
                    "label_savings_mean": float(np.nanmean(savings)) if reached else math.nan,
                    "label_savings_std": float(np.nanstd(savings)) if reached else math.nan,
                }
            )
        return rows

    def _has(self, strategy, seed):
        return any(r["strategy"] == strategy and r["seed"] == seed for r in self.records)

    def summary_table(self, baseline="random", metric="score"):
        """The summary (of ``metric``, default: the score) as a fixed-width text table.

        The baseline's own row is marked: its label savings (against its own mean) are the
        noise floor, what differences between seeds alone give. Without the baseline, the
        savings column says so. Scores are mean ± std over seeds, or the score of the one
        seed.

        Examples
        --------
        >>> from activekit.evaluation import ActiveLearningResults
        >>> rows = [dict(strategy=s, seed=0, round=r, n_labeled=10 + 10 * r,
        ...              score=sc, query_time=0.0, fit_time=0.0)
        ...         for s, scores in {"random": [0.5, 0.6, 0.7], "margin": [0.5, 0.7, 0.8]}.items()
        ...         for r, sc in enumerate(scores)]
        >>> print(ActiveLearningResults(rows).summary_table())
        strategy  final score    AUC  labels to 0.700  label savings
        random          0.700  0.600               30           0.0%  (baseline: noise floor)
        margin          0.800  0.675               20          33.3%
        >>> print(ActiveLearningResults(rows).summary_table(baseline="entropy"))
        strategy  final score    AUC  labels to entropy        label savings
        random          0.700  0.600                  -  no entropy baseline
        margin          0.800  0.675                  -  no entropy baseline
        """
        rows = self.summary(baseline, metric)
        target = rows[0]["target_score"] if rows else math.nan
        goal = f"labels to {target:.3f}" if math.isfinite(target) else f"labels to {baseline}"
        final = "final score" if metric == "score" else f"final {metric}"
        table = [["strategy", final, "AUC", goal, "label savings", ""]]
        score = "{:.3f}".format
        percent = lambda v: f"{100 * v:.1f}%"  # noqa: E731
        for r in rows:
            n = r["n_seeds"]
            if not math.isfinite(target):
                need, save = "-", f"no {baseline} baseline"
            elif r["reached"]:
                labels = r["labels_to_target_mean"]
                need = f"{labels:.0f}" if n == 1 else f"{labels:.1f} ({r['reached']}/{n})"
                save = _spread(r["label_savings_mean"], r["label_savings_std"], n, percent)
            else:
                need, save = ("not reached" if n == 1 else f"not reached (0/{n})"), "-"
            table.append(
                [
                    r["strategy"],
                    _spread(r["final_score_mean"], r["final_score_std"], n, score),
                    _spread(r["auc_mean"], r["auc_std"], n, score),
                    need,
                    save,
                    "(baseline: noise floor)" if r["strategy"] == baseline else "",
                ]
            )
        return _text_table(table, last_left=True)

    def metrics_table(self, metrics=None):
        """Final value and area under the curve of further metrics, one row per strategy
        (mean ± std over seeds), as a fixed-width text table.

        Parameters
        ----------
        metrics : list of str, default=None
            Of :attr:`metrics`; ``None`` means all but the score.

        Examples
        --------
        >>> from activekit.evaluation import ActiveLearningResults
        >>> rows = [dict(strategy="random", seed=0, round=r, n_labeled=10 + 10 * r,
        ...              score=0.5 + r / 10, hamming_loss=0.3 - r / 10,
        ...              query_time=0.0, fit_time=0.0) for r in range(3)]
        >>> results = ActiveLearningResults(
        ...     rows, {"metrics": ["hamming_loss"], "lower_is_better": ["hamming_loss"]})
        >>> print(results.metrics_table())
        strategy  final hamming_loss  AUC hamming_loss
        random                 0.100             0.200
        """
        metrics = [m for m in self.metrics if m != "score"] if metrics is None else metrics
        for metric in metrics:
            self._check_metric(metric)
        table = [["strategy"] + [f"{kind} {m}" for m in metrics for kind in ("final", "AUC")]]
        rows = {m: self.summary(baseline=None, metric=m) for m in metrics}
        score = "{:.3f}".format
        for i, strategy in enumerate(self.strategies):
            cells = [strategy]
            for m in metrics:
                r = rows[m][i]
                n = r["n_seeds"]
                cells.append(_spread(r["final_score_mean"], r["final_score_std"], n, score))
                cells.append(_spread(r["auc_mean"], r["auc_std"], n, score))
            table.append(cells)
        return _text_table(table)

    # -- conversion --------------------------------------------------------------------

    def to_frame(self):
        """The per-round table as a pandas DataFrame (needs pandas): a column per key of the
        records, the further metrics after ``fit_time``."""
        pd = import_optional("pandas", extra="dev")
        return pd.DataFrame(self.records, columns=[*COLUMNS, *self.metrics[1:]])

    def to_json(self, path=None):
        """Serialise to JSON; write it to ``path`` when given. Returns the JSON text."""
        text = json.dumps(
            {"format": _FORMAT, "metadata": _plain(self.metadata), "records": _plain(self.records)},
            indent=1,
        )
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, source):
        """Load from a path or a JSON string written by :meth:`to_json`."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text()
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"not an activekit results file (expected format {_FORMAT!r})")
        return cls(data["records"], data.get("metadata"))
