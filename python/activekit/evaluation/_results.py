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
        ``n_labeled``, ``score``, ``query_time`` and ``fit_time``.
    metadata : dict, default=None
        What was run: dataset, estimator, scoring, budget, and so on; ``runs`` lists each run's
        strategy, seed and stop reason.

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

    # -- curves ------------------------------------------------------------------------

    def curve(self, strategy, seed):
        """``(n_labeled, scores)`` of one run, in round order."""
        rows = sorted(
            (r for r in self.records if r["strategy"] == strategy and r["seed"] == seed),
            key=lambda r: r["round"],
        )
        if not rows:
            raise ValueError(f"no run with strategy={strategy!r} and seed={seed!r}")
        return (
            np.array([r["n_labeled"] for r in rows]),
            np.array([np.nan if r["score"] is None else r["score"] for r in rows], dtype=float),
        )

    def mean_curve(self, strategy):
        """``(n_labeled, mean, std)`` over seeds at each labelled count.

        A run that stopped early contributes to the counts it reached.
        """
        by_count = {}
        for seed in self.seeds:
            try:
                counts, scores = self.curve(strategy, seed)
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

    def summary(self, baseline="random"):
        """One row per strategy: final score, normalised area under the curve and label
        savings, each as mean and standard deviation over seeds.

        Label savings are measured against ``baseline``'s final mean score (the target): the
        labels a run needs to first reach the target, as a saving relative to the baseline's
        budget, ``1 - labels / baseline_labels``. A run that never reaches the target has no
        saving (NaN); ``reached`` counts those that do. Without the baseline, savings are NaN.

        Returns
        -------
        rows : list of dict
        """
        target = baseline_labels = math.nan
        if baseline in self.strategies:
            finals = [self.curve(baseline, s) for s in self.seeds if self._has(baseline, s)]
            target = float(np.mean([scores[-1] for _, scores in finals]))
            baseline_labels = float(np.mean([counts[-1] for counts, _ in finals]))
        rows = []
        for strategy in self.strategies:
            finals, aucs, needed, labels = [], [], [], []
            for seed in self.seeds:
                if not self._has(strategy, seed):
                    continue
                counts, scores = self.curve(strategy, seed)
                finals.append(scores[-1])
                aucs.append(normalized_auc(counts, scores))
                labels.append(counts[-1])
                hit = np.flatnonzero(scores >= target) if math.isfinite(target) else []
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

    def summary_table(self, baseline="random"):
        """The summary as a fixed-width text table.

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
        rows = self.summary(baseline)
        target = rows[0]["target_score"] if rows else math.nan
        goal = f"labels to {target:.3f}" if math.isfinite(target) else f"labels to {baseline}"
        table = [["strategy", "final score", "AUC", goal, "label savings", ""]]

        def spread(mean, std, n_seeds, fmt):
            return fmt(mean) if n_seeds == 1 else f"{fmt(mean)} ± {fmt(std)}"

        score = "{:.3f}".format
        percent = lambda v: f"{100 * v:.1f}%"  # noqa: E731
        for r in rows:
            n = r["n_seeds"]
            if not math.isfinite(target):
                need, save = "-", f"no {baseline} baseline"
            elif r["reached"]:
                labels = r["labels_to_target_mean"]
                need = f"{labels:.0f}" if n == 1 else f"{labels:.1f} ({r['reached']}/{n})"
                save = spread(r["label_savings_mean"], r["label_savings_std"], n, percent)
            else:
                need, save = ("not reached" if n == 1 else f"not reached (0/{n})"), "-"
            table.append(
                [
                    r["strategy"],
                    spread(r["final_score_mean"], r["final_score_std"], n, score),
                    spread(r["auc_mean"], r["auc_std"], n, score),
                    need,
                    save,
                    "(baseline: noise floor)" if r["strategy"] == baseline else "",
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        return "\n".join(
            "  ".join(
                cell.ljust(w) if i in (0, len(row) - 1) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in table
        )

    # -- conversion --------------------------------------------------------------------

    def to_frame(self):
        """The per-round table as a pandas DataFrame (needs pandas)."""
        pd = import_optional("pandas", extra="dev")
        return pd.DataFrame(self.records, columns=list(COLUMNS))

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
