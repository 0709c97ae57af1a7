"""ActiveLearningCurveDisplay: learning curves in scikit-learn's Display style."""

from __future__ import annotations

from .._dependencies import import_optional

__all__ = ["ActiveLearningCurveDisplay"]


class ActiveLearningCurveDisplay:
    """Mean learning curve of each strategy, with a band of one standard deviation.

    Build it with :meth:`from_results`, or from curves and then :meth:`plot`. Needs
    matplotlib (``pip install "activekit[plot]"``).

    Parameters
    ----------
    curves : dict of str to tuple of arrays
        Strategy name to ``(n_labeled, mean_score, std_score)``.
    score_name : str, default="score"
        The y-axis label.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The mean curve of each strategy.
    bands_ : dict of str to matplotlib PolyCollection
        The standard-deviation band of each strategy (empty without bands).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from activekit.evaluation import ActiveLearningCurveDisplay
    >>> display = ActiveLearningCurveDisplay(
    ...     curves={"random": ([10, 20], [0.5, 0.6], [0.01, 0.02])}, score_name="accuracy"
    ... ).plot()
    >>> display.ax_.get_ylabel()
    'accuracy'
    """

    def __init__(self, *, curves, score_name="score"):
        self.curves = curves
        self.score_name = score_name

    def plot(self, ax=None, *, std=True, title=None, line_kw=None, band_kw=None):
        """Draw the curves on ``ax`` (a new figure when ``None``).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        std : bool, default=True
            Draw the band of one standard deviation.
        title : str, default=None
        line_kw, band_kw : dict, default=None
            Passed to ``ax.plot`` and ``ax.fill_between``.

        Returns
        -------
        display : ActiveLearningCurveDisplay
        """
        plt = import_optional("matplotlib.pyplot", extra="plot")
        import numpy as np

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        self.lines_, self.bands_ = {}, {}
        for name, (n_labeled, mean, spread) in self.curves.items():
            n_labeled, mean, spread = (
                np.asarray(a, dtype=float) for a in (n_labeled, mean, spread)
            )
            (line,) = ax.plot(n_labeled, mean, label=name, **(line_kw or {}))
            self.lines_[name] = line
            if std:
                self.bands_[name] = ax.fill_between(
                    n_labeled,
                    mean - spread,
                    mean + spread,
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                    **(band_kw or {}),
                )
        ax.set_xlabel("labelled samples")
        ax.set_ylabel(self.score_name)
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_results(
        cls, results, *, strategies=None, metric="score", ax=None, std=True, title=None
    ):
        """Plot the mean curves of ``results`` (an :class:`ActiveLearningResults`).

        Parameters
        ----------
        results : ActiveLearningResults
        strategies : list of str, default=None
            Which to draw; all by default.
        metric : str, default="score"
            One of ``results.metrics``: the score, or a further metric such as
            ``"hamming_loss"`` (its name labels the y-axis).
        ax, std, title
            As in :meth:`plot`.

        Returns
        -------
        display : ActiveLearningCurveDisplay
        """
        names = results.strategies if strategies is None else list(strategies)
        unknown = sorted(set(names) - set(results.strategies))
        if unknown:
            raise ValueError(f"no results for strategies {unknown}; have {results.strategies}")
        curves = {name: results.mean_curve(name, metric) for name in names}
        score_name = (results.metadata.get("scoring") or "score") if metric == "score" else metric
        return cls(curves=curves, score_name=score_name).plot(ax=ax, std=std, title=title)
