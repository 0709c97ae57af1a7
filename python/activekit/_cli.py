"""The ``activekit`` command line. Its main job, ``activekit benchmark``, shows on a dataset how
many labels each query strategy saves against random sampling."""

from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import os
import re
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .session import SessionBusyError
from .strategies import get_strategy_names
from .strategies._registry import multilabel_only_strategies

__all__ = ["main"]

DATASETS = ("digits", "breast_cancer", "wine", "iris")
ESTIMATORS = ("logreg", "random_forest", "hist_gradient_boosting", "mlp", "svm")
#: ``--task regression``: embedded data sets (they ship with scikit-learn, no download),
#: regressors and default strategies.
REGRESSION_DATASETS = ("diabetes",)
REGRESSION_ESTIMATORS = ("ridge",)
REGRESSION_STRATEGIES = ("random", "committee_variance", "emcm", "gsx", "gsy", "igs")
#: ``--task multilabel``: yeast (Elisseeff and Weston 2002, the MULAN version: 2417 genes, 103
#: features, 14 function labels) ships inside river's wheel (``pip install
#: "activekit[multilabel]"``), read from there without a download.
MULTILABEL_DATASETS = ("yeast",)
MULTILABEL_ESTIMATORS = ("logreg",)
#: random, then every strategy for multi-label targets only, in the registry's order.
MULTILABEL_STRATEGIES = ("random", *multilabel_only_strategies())


class _Task(NamedTuple):
    """What ``--task`` changes: the embedded data sets, estimators, defaults, the kind of
    target a CSV needs and the score's name in the notes."""

    datasets: tuple
    estimators: tuple
    dataset: str
    estimator: str
    strategies: tuple
    csv_target: str
    score: str


TASKS = {
    "classification": _Task(
        DATASETS,
        ESTIMATORS,
        "digits",
        "logreg",
        ("random", "least_confident", "margin", "entropy"),
        "a --target class column",
        "accuracy",
    ),
    "regression": _Task(
        REGRESSION_DATASETS,
        REGRESSION_ESTIMATORS,
        "diabetes",
        "ridge",
        REGRESSION_STRATEGIES,
        "a numeric --target",
        "R^2",
    ),
    "multilabel": _Task(
        MULTILABEL_DATASETS,
        MULTILABEL_ESTIMATORS,
        "yeast",
        "logreg",
        MULTILABEL_STRATEGIES,
        "comma-separated 0/1 --target columns",
        "micro F1",
    ),
}


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit status 2."""


def _one_line(message):
    """``message`` on a single line (some scikit-learn messages span several)."""
    return " ".join(str(message).split())


def _did_you_mean(name, valid):
    """``"; did you mean 'x'?"`` for the closest valid name, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown(kind, name, valid):
    """``unknown strategy 'margn'; did you mean 'margin'? Valid: ...``"""
    hint = _did_you_mean(name, valid)
    return f"unknown {kind} {name!r}{hint}{' Valid' if hint else '; valid'}: {', '.join(valid)}"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit status 2.

    ``--help`` and ``--version`` print as usual and exit 0. Subcommand parsers are made of
    the same class (argparse's default ``parser_class``)."""

    def error(self, message):
        choice = re.match(
            r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message
        )
        if choice:
            valid = re.findall(r"'([^']*)'", choice.group(3))
            kind = "command" if choice.group(1) == "command" else f"value for {choice.group(1)}"
            message = _unknown(kind, choice.group(2), valid)
        elif message.endswith("required: command"):
            message += " (benchmark, strategies, label or serve; see activekit --help)"
        self.exit(2, f"activekit: error: {_one_line(message)}\n")


def _load_yeast():
    """The yeast multi-label data set from river's wheel: ``(X, Y)``, Y a 0/1 matrix of 14
    label columns."""
    from ._dependencies import import_optional

    datasets = import_optional("river.datasets", extra="multilabel")
    table = np.loadtxt(datasets.Yeast().path, delimiter=",", skiprows=1)
    return table[:, :103], table[:, 103:].astype(int)


def load_dataset(name, target=None, task="classification"):
    """``(X, y, label)`` for an embedded dataset name or a CSV path with a ``target`` column
    (for ``task="multilabel"``, comma-separated 0/1 columns, read as an indicator matrix)."""
    embedded = [d for t in TASKS.values() for d in t.datasets]
    if name in embedded:
        if target is not None:
            raise UsageError(f"--target is only for CSV files, not the embedded dataset {name!r}")
        if name == "yeast":
            X, y = _load_yeast()
            return X, y, name
        from sklearn import datasets

        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return X.astype(float), y, name
    path = Path(name)
    if path.suffix.lower() != ".csv" and not path.exists():
        valid = TASKS[task].datasets
        hint = _did_you_mean(name, valid)
        raise UsageError(
            f"unknown dataset {name!r}{hint}{' Use' if hint else '; use'} one of "
            f"{', '.join(valid)} or a path to a CSV file"
        )
    if target is None:
        raise UsageError(f"--target must name the label column of {name}")
    targets = [t.strip() for t in target.split(",")] if task == "multilabel" else [target]
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise UsageError(f"no such file: {name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise UsageError(f"{name} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for t in targets:
        if t not in header:
            raise UsageError(f"target column {t!r} is not in {name}; columns: {header}")
    if len(set(targets)) != len(targets) or (task == "multilabel" and len(targets) < 2):
        raise UsageError(
            f"--target {target!r} must name at least 2 distinct label columns for "
            "--task multilabel, comma-separated"
        )
    width = len(header)
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise UsageError(f"{name}, line {line}: {len(row)} fields, expected {width}")
    columns = [header.index(t) for t in targets]
    features = [j for j in range(width) if j not in columns]
    if not features:
        raise UsageError(f"{name} has no feature columns besides {target!r}")
    X = np.empty((len(rows) - 1, len(features)))
    for i, row in enumerate(rows[1:]):
        for k, j in enumerate(features):
            try:
                X[i, k] = float(row[j])
            except ValueError:
                raise UsageError(
                    f"{name}, line {i + 2}: feature {header[j]!r} has the non-numeric value "
                    f"{row[j]!r}; features must be numbers"
                ) from None
    if not np.all(np.isfinite(X)):
        raise UsageError(f"{name} has missing or infinite feature values")
    if task == "multilabel":
        Y = np.array([[row[j].strip() for j in columns] for row in rows[1:]])
        bad = ~np.isin(Y, ["0", "1"])
        if bad.any():
            i, k = np.argwhere(bad)[0]
            raise UsageError(
                f"{name}, line {i + 2}: label column {targets[k]!r} holds {str(Y[i, k])!r}; "
                "multi-label targets must be 0 or 1"
            )
        return X, (Y == "1").astype(int), path.name
    t = columns[0]
    labels = np.array([row[t].strip() for row in rows[1:]])
    if len(np.unique(labels)) < 2:
        raise UsageError(
            f"{name}: the target column {target!r} holds the single class {str(labels[0])!r}; "
            "classification needs at least 2"
        )
    try:
        y = labels.astype(int)
    except ValueError:
        y = labels
    return X, y, path.name


def make_estimator(name, task="classification"):
    """The classifier (or, for ``ridge``, the regressor) behind ``--estimator NAME``; for
    ``task="multilabel"``, ``logreg`` is one logistic regression per label (one-vs-rest)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if task == "multilabel":  # _task_defaults allows only MULTILABEL_ESTIMATORS
        return make_pipeline(
            StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=1000))
        )
    return {
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
        "random_forest": lambda: RandomForestClassifier(n_estimators=100, random_state=0),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=0),
        "mlp": lambda: make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0)),
        # SVC's own probability=True is deprecated; Platt scaling on 2 folds of the labels.
        "svm": lambda: make_pipeline(
            StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False, cv=2)
        ),
    }[name]()


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _test_size(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value >= 1 and value.is_integer():
        return int(value)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction in (0, 1) or a row count >= 1, got {text}"
        )
    return value


def _jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer (-1 for every core), got {text!r}"
        ) from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "expected a positive number of runs in parallel or a negative one "
            "(-1 = every core), got 0"
        )
    return value


def _strategies(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    valid = get_strategy_names()
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated strategy names, got {text!r}; valid: {', '.join(valid)}"
        )
    for name in names:
        if name not in valid:
            raise argparse.ArgumentTypeError(_unknown("strategy", name, valid))
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise argparse.ArgumentTypeError(f"{', '.join(duplicates)} named more than once")
    return names


def _estimator(text):
    valid = list(dict.fromkeys(e for t in TASKS.values() for e in t.estimators))
    if text not in valid:
        raise argparse.ArgumentTypeError(_unknown("estimator", text, valid))
    return text


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("activekit")
    except PackageNotFoundError:  # run from a source tree without installing
        from . import __version__

        return __version__


def build_parser():
    parser = _Parser(
        prog="activekit",
        description="Active learning for scikit-learn, with a Rust core.",
    )
    parser.add_argument("--version", action="version", version=f"activekit {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    bench = commands.add_parser(
        "benchmark",
        help="compare query strategies on a dataset: learning curves and label savings",
        description=(
            "Simulate active learning with each strategy and seed on a dataset, score a "
            "held-out set after every round, and report the final score, the area under the "
            "learning curve and the labels each strategy saves against random sampling "
            "(added as the baseline when --strategies leaves it out). Writes results.json and "
            "learning_curve.png to the output folder. Errors are one line on stderr, exit "
            "status 2."
        ),
    )
    bench.add_argument(
        "--task",
        choices=list(TASKS),
        default="classification",
        help="classification (accuracy curves), regression (R^2 curves, "
        "ActiveLearningRegressor; default dataset diabetes, estimator ridge, strategies "
        f"{','.join(REGRESSION_STRATEGIES)}) or multilabel (micro F1 curves, macro F1 and "
        "Hamming loss beside them; an indicator target; default dataset yeast, the real "
        'multi-label set shipped in river\'s wheel: pip install "activekit[multilabel]"; '
        "estimator logreg, one per label; strategies "
        f"{','.join(MULTILABEL_STRATEGIES)}) (default: classification)",
    )
    bench.add_argument(
        "--dataset",
        default=None,
        help=f"{', '.join(DATASETS)} (classification), {', '.join(REGRESSION_DATASETS)} "
        f"(regression), {', '.join(MULTILABEL_DATASETS)} (multilabel), or a CSV file with a "
        "header row (default: digits, diabetes or yeast by --task)",
    )
    bench.add_argument(
        "--target",
        help="label column of a CSV dataset; for --task multilabel, comma-separated 0/1 "
        "columns, one per label",
    )
    bench.add_argument(
        "--estimator",
        type=_estimator,
        default=None,
        help=f"classifier: {', '.join(ESTIMATORS)} (default: logreg, standardised logistic "
        "regression; one per label for --task multilabel); ridge for --task regression",
    )
    bench.add_argument(
        "--strategies",
        type=_strategies,
        default=None,
        help="comma-separated names, from `activekit strategies` (default: "
        "random,least_confident,margin,entropy); random is added as the baseline if missing",
    )
    bench.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not add random when --strategies leaves it out (no label savings then)",
    )
    bench.add_argument(
        "--budget",
        type=_positive_int,
        help="labels to acquire per run (default: 200, or the pool size if smaller)",
    )
    bench.add_argument(
        "--batch-size", type=_positive_int, default=10, help="labels per round (default: 10)"
    )
    bench.add_argument(
        "--initial",
        type=_positive_int,
        default=20,
        help="initial labelled set, stratified: at least one row per class, fewer than "
        "--budget (default: 20)",
    )
    bench.add_argument(
        "--seeds",
        type=_positive_int,
        default=3,
        help="runs per strategy, seeds 0..N-1 (default: 3)",
    )
    bench.add_argument(
        "--test-size",
        type=_test_size,
        default=0.25,
        help="held-out fraction or row count (default: 0.25)",
    )
    bench.add_argument(
        "--output",
        default="activekit-output",
        help="folder for results.json and learning_curve.png (default: activekit-output)",
    )
    bench.add_argument(
        "--jobs", type=_jobs, default=1, help="runs in parallel; -1 for every core (default: 1)"
    )
    bench.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print only the summary table (and errors): no progress bar, no notes",
    )
    commands.add_parser("strategies", help="list the query strategies")
    _add_label_parser(commands)
    _add_serve_parser(commands)
    return parser


# -- activekit label: the labelling page ---------------------------------------------------


def _port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535 (0: any free), got {value}")
    return value


def _strategy(text):
    if text not in get_strategy_names():
        raise argparse.ArgumentTypeError(_unknown("strategy", text, get_strategy_names()))
    return text


def _add_new_session_options(parser, *, batch_help):
    """The options that make a new labelling session (``label`` and ``serve``): its query
    strategy, classifier, batch size and seed; a resumed session keeps its own."""
    parser.add_argument(
        "--strategy",
        type=_strategy,
        default="margin",
        help="query strategy of a new session (default: margin)",
    )
    parser.add_argument(
        "--estimator",
        type=_estimator,
        default="logreg",
        help=f"classifier of a new session: {', '.join(ESTIMATORS)} (default: logreg)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=10, help=f"{batch_help} (default: 10)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random_state of a new session (default: 0)"
    )


def _add_label_parser(commands):
    label = commands.add_parser(
        "label",
        help="label a data set in a local web page, the model choosing what to ask",
        description=(
            "Serve a labelling page on 127.0.0.1 for a CSV file: it shows the items the "
            "session's model asks about (numbers, text, images from image-path columns), takes "
            "a key per class, skip (Space) and undo (Backspace), and retrains after each batch. "
            "Every answer goes into the session file (SQLite), so a campaign can stop and "
            "resume. Errors are one line on stderr, exit status 2."
        ),
    )
    label.add_argument("--data", help="CSV file with a header row: the items to label")
    label.add_argument(
        "--session",
        help="the session file (SQLite); created if absent, resumed if present",
    )
    label.add_argument(
        "--id-column", help="column of unique item ids (default: the row number, from 0)"
    )
    label.add_argument(
        "--port", type=_port, default=8765, help="port on 127.0.0.1 (default: 8765; 0: any free)"
    )
    label.add_argument(
        "--test",
        help="held-out CSV with the same feature columns and a label column: the page shows "
        "the model's accuracy on it and the learning curve",
    )
    label.add_argument(
        "--target",
        help="label column of --test (default: 'label' or 'target'); never a feature of --data",
    )
    label.add_argument(
        "--classes",
        help="comma-separated classes of a new session (default: those of --test)",
    )
    _add_new_session_options(
        label, batch_help="labels per batch of a new session; it retrains after each"
    )
    label.add_argument("--annotator", help="name recorded with each label (default: login name)")
    label.add_argument(
        "--demo",
        metavar="DIR",
        help="write scikit-learn's digits as pool.csv (with images), test.csv and images/ "
        "into DIR, print the command that labels them, and exit",
    )


def _label_main(parser, args):
    from .integrations import labelpage

    with _quiet_convergence():
        try:
            return _label(args, labelpage)
        except (UsageError, ValueError, TypeError, ImportError, SessionBusyError) as exc:
            parser.exit(2, f"activekit: error: {_one_line(exc)}\n")
        except KeyboardInterrupt:
            parser.exit(130, "activekit: interrupted\n")


def _label(args, labelpage):
    if args.demo:
        paths = labelpage.write_digits_demo(args.demo)
        folder = paths["folder"]
        print(
            f"wrote {paths['pool']} (with images/) and {paths['test']}; label them with:\n"
            f"  activekit label --data {paths['pool']} --id-column id --test {paths['test']} "
            f"--session {folder / 'session.db'}"
        )
        return 0
    missing = [f"--{name}" for name in ("data", "session") if getattr(args, name) is None]
    if missing:
        raise UsageError(f"{' and '.join(missing)} required (or --demo DIR for a demo data set)")
    target = args.target
    if args.test is not None:
        target = labelpage.label_column(args.test, target)
    data = labelpage.DataTable(
        args.data, id_column=args.id_column, exclude=() if target is None else (target,)
    )
    test = None
    if args.test is not None:
        test = labelpage.load_test_set(args.test, data.features, target)
    classes = None
    if args.classes is not None:
        classes = labelpage.parse_labels(c for c in args.classes.split(",") if c.strip())
        if not classes:
            raise UsageError(f"--classes {args.classes!r} names no class")
    elif test is not None and not Path(args.session).exists():
        classes = sorted(set(test[1]))
    session = labelpage.open_session(
        args.session,
        data,
        classes=classes,
        estimator=make_estimator(args.estimator),
        query_strategy=args.strategy,
        batch_size=args.batch_size,
        random_state=args.seed,
    )
    with session:
        app = labelpage.create_app(session, data, test=test, annotator=args.annotator)
        page = app.extensions["activekit_labelpage"]
        try:
            try:
                server = labelpage.make_server(app, args.port)
            except OSError as exc:
                raise UsageError(
                    f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}; pick "
                    "another --port (0: any free port)"
                ) from None
            print(
                f"activekit label: {data.path.name}, {len(session.pool_ids)} items, "
                f"{session.n_labeled} labelled, session {session.path}\n"
                f"open http://127.0.0.1:{server.server_port}/  (Ctrl-C stops; answers are "
                "saved as they are given)",
                flush=True,
            )
            try:
                server.serve_forever()
            finally:
                server.server_close()
        finally:
            page.close()
    return 0


# -- activekit serve labelstudio: the Label Studio ML backend -------------------------------


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _add_serve_parser(commands):
    serve = commands.add_parser(
        "serve",
        help="serve a labelling session to a labelling tool (Label Studio)",
        description="Serve a labelling session to a labelling tool.",
    )
    tools = serve.add_subparsers(dest="tool", required=True, metavar="tool")
    studio = tools.add_parser(
        "labelstudio",
        help="a Label Studio ML backend on 127.0.0.1",
        description=(
            "Serve a Label Studio ML backend on 127.0.0.1 for a CSV file of items: it predicts "
            "each task's class, orders the tasks by the session's query strategy (the "
            "prediction score: lowest first), records annotations from Label Studio's webhook "
            "into the session file (SQLite) and refits off the request thread every "
            "--retrain-every labels. Tasks map to items through the --id-column field of their "
            "data. Connect it in the project's Settings > Model; Label Studio must be started "
            "with ML_BLOCK_LOCAL_IP=false and SSRF_PROTECTION_ENABLED=false to call 127.0.0.1. "
            "Errors are one line on stderr, exit status 2."
        ),
    )
    studio.add_argument(
        "--data",
        required=True,
        help="CSV file with a header row: numeric feature columns and the --id-column "
        "(image-path and text columns are not learnt from)",
    )
    studio.add_argument(
        "--id-column",
        required=True,
        help="column of unique item ids, and the field of each task's data that holds it",
    )
    studio.add_argument(
        "--session",
        required=True,
        help="the session file (SQLite); created if absent, resumed if present",
    )
    studio.add_argument(
        "--port", type=_port, default=9090, help="port on 127.0.0.1 (default: 9090; 0: any free)"
    )
    studio.add_argument(
        "--retrain-every",
        type=_non_negative_int,
        default=10,
        help="refit once this many labels are new (default: 10; 0: only on Label Studio's "
        "Start training)",
    )
    studio.add_argument(
        "--from-name",
        help="name of the <Choices> tag to fill, when the labelling config has several",
    )
    studio.add_argument(
        "--classes",
        help="comma-separated classes of a new session (default: any label, learnt as they come)",
    )
    _add_new_session_options(studio, batch_help="the learner's batch_size in a new session")
    studio.add_argument(
        "--write-tasks",
        metavar="JSON",
        help="write the items as Label Studio tasks (every column of --data in each task's "
        "data, numbers as numbers) to this file for the project's import, and exit",
    )


def _serve_main(parser, args):
    with _quiet_convergence():
        try:
            return _serve_labelstudio(args)
        except (UsageError, ValueError, TypeError, ImportError, SessionBusyError) as exc:
            parser.exit(2, f"activekit: error: {_one_line(exc)}\n")
        except KeyboardInterrupt:
            parser.exit(130, "activekit: interrupted\n")


def _write_tasks(data, path):
    """Label Studio's import JSON for the rows of ``data``: every column in each task's data,
    numbers as numbers."""
    import json

    def value(text):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number

    with data.path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    header = [name.strip() for name in rows[0]]
    tasks = [  # DataTable checked that every row has a field per column
        {"data": {n: value(c.strip()) for n, c in zip(header, row, strict=True)}}
        for row in rows[1:]
    ]
    try:
        Path(path).write_text(json.dumps(tasks), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write --write-tasks {path}: {exc}") from None
    return len(tasks)


def _serve_labelstudio(args):
    from ._learner import ActiveLearningClassifier
    from .integrations import labelpage, labelstudio
    from .session import LabelingSession

    data = labelpage.DataTable(args.data, id_column=args.id_column)
    if args.write_tasks:
        n = _write_tasks(data, args.write_tasks)
        print(f"wrote {n} tasks to {args.write_tasks}; import them into the Label Studio project")
        return 0
    path = Path(args.session)
    if path.exists():
        session = LabelingSession.open(path, data.rows_for)
        missing = [pid for pid in session.pool_ids if str(pid) not in data.index]
        if missing:
            session.close()
            raise UsageError(
                f"{len(missing)} ids of the session {path} are not in --data {args.data} "
                f"(first: {missing[:5]}); serve it with the data it was created on"
            )
    else:
        classes = None
        if args.classes is not None:
            classes = labelpage.parse_labels(c for c in args.classes.split(",") if c.strip())
            if not classes:
                raise UsageError(f"--classes {args.classes!r} names no class")
        learner = ActiveLearningClassifier(
            estimator=make_estimator(args.estimator),
            query_strategy=args.strategy,
            batch_size=args.batch_size,
            random_state=args.seed,
        )
        session = LabelingSession.create(path, learner, data.ids, data.rows_for, classes=classes)
    from werkzeug.serving import make_server

    with session:
        app = labelstudio.create_app(
            session,
            id_field=args.id_column,
            retrain_every=args.retrain_every,
            from_name=args.from_name,
        )
        backend = app.extensions["activekit.labelstudio"]
        try:
            try:
                server = make_server("127.0.0.1", args.port, app, threaded=True)
            except OSError as exc:
                raise UsageError(
                    f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}; pick "
                    "another --port (0: any free port)"
                ) from None
            print(
                f"activekit serve labelstudio: {data.path.name}, {len(session.pool_ids)} items, "
                f"{session.n_labeled} labelled, model version {session.model_version}, session "
                f"{session.path}\nML backend at http://127.0.0.1:{server.server_port} "
                "(connect it in the Label Studio project's Settings > Model; Ctrl-C stops)",
                flush=True,
            )
            try:
                server.serve_forever()
            finally:
                server.server_close()
        finally:
            backend.close()
    return 0


def _pool_size(n_samples, test_size):
    n_test = int(np.ceil(test_size * n_samples)) if isinstance(test_size, float) else test_size
    return n_samples - n_test


def _count(n, one, many):
    return f"{n} {one if n == 1 else many}"


def _note(with_random, n_seeds, score="accuracy"):
    """What the table's columns mean, wrapped, as printed under it."""
    spread = "" if n_seeds == 1 else " (mean ± std over seeds)"
    if with_random:
        note = (
            f"AUC: mean {score} over the learning curve. Label savings: labels saved, against "
            f"random's budget, in first reaching random's final mean {score}{spread}. "
            "Random's own row is the noise floor: the savings that differences between seeds "
            "alone give."
        )
    else:
        note = (
            f"AUC: mean {score} over the learning curve{spread}. No label savings without "
            "the random baseline."
        )
    return textwrap.fill(note, width=88)


def _check_budget(args, n_rows, label):
    """The budget against the pool left by --test-size, and the initial set below it: what
    every task checks. Returns the budget."""
    pool = _pool_size(n_rows, args.test_size)
    if pool < 1:
        raise UsageError(f"--test-size {args.test_size} leaves no rows of {n_rows} for the pool")
    budget = args.budget if args.budget is not None else min(200, pool)
    if budget > pool:
        raise UsageError(
            f"--budget {budget} is larger than the pool: {label} has {n_rows} rows and "
            f"{pool} remain after holding out --test-size {args.test_size}"
        )
    if args.initial >= budget:
        raise UsageError(
            f"--initial {args.initial} must be smaller than --budget {budget}: the budget "
            "counts the initial labels, and strategies differ only in the labels queried after"
        )
    return budget


def _check_multilabel_sizes(args, Y, label):
    """``--task multilabel``: every label column holds both values, and the initial set can
    hold a positive and a negative row of each."""
    for j in range(Y.shape[1]):
        if len(np.unique(Y[:, j])) < 2:
            raise UsageError(
                f"label column {j} of {label} holds a single value; every label needs "
                "positive and negative rows"
            )
    if args.initial < 2:
        raise UsageError(
            f"--initial {args.initial} is too small: the initial set holds a positive and a "
            "negative row of every label, so --initial must be at least 2"
        )
    return _check_budget(args, len(Y), label)


def _task_defaults(args):
    """Fill in the defaults of --dataset, --estimator and --strategies for --task, and check
    that the estimator and an embedded dataset fit the task."""
    task = TASKS[args.task]
    if args.dataset is None:
        args.dataset = task.dataset
    if args.estimator is None:
        args.estimator = task.estimator
    if args.strategies is None:
        args.strategies = list(task.strategies)
    if args.estimator not in task.estimators:
        raise UsageError(
            f"--estimator {args.estimator} is not for --task {args.task}; use one of "
            f"{', '.join(task.estimators)}"
        )
    for other, kind in TASKS.items():
        if other != args.task and args.dataset in kind.datasets:
            what = "a multi-label" if other == "multilabel" else f"a {other}"
            raise UsageError(
                f"--dataset {args.dataset} is {what} data set; for --task {args.task} use "
                f"{', '.join(task.datasets)} or a CSV file with {task.csv_target}"
            )


def _check_sizes(args, y, label):
    """The budget, initial set and held-out set against the dataset, with the options' names
    (evaluate_strategies checks the same with its parameters' names)."""
    classes, counts = np.unique(y, return_counts=True)
    n_classes = len(classes)
    if counts.min() < 2:
        raise UsageError(
            f"class {classes[np.argmin(counts)].item()!r} of {label} has a single row; the "
            "held-out set is stratified and needs at least 2 rows of every class"
        )
    pool = _pool_size(len(y), args.test_size)
    n_test = len(y) - pool
    if pool < 1:
        raise UsageError(f"--test-size {args.test_size} leaves no rows of {len(y)} for the pool")
    if n_test < n_classes:
        raise UsageError(
            f"--test-size {args.test_size} holds out {n_test} rows, fewer than the {n_classes} "
            f"classes of {label}; the held-out set is stratified and needs a row of each class"
        )
    if args.initial < n_classes:
        raise UsageError(
            f"--initial {args.initial} is too small: {label} has {n_classes} classes and the "
            f"initial set needs a row of each, so --initial must be at least {n_classes}"
        )
    return _check_budget(args, len(y), label), n_classes


def benchmark(args):
    from .evaluation import ActiveLearningCurveDisplay, evaluate_strategies

    say = (lambda *a, **k: None) if args.quiet else print
    _task_defaults(args)
    X, y, label = load_dataset(args.dataset, args.target, args.task)
    if args.task == "regression":
        try:
            y = np.asarray(y, dtype=float)
        except ValueError:
            raise UsageError(
                f"--task regression needs a numeric target; {label}'s is not"
            ) from None
        budget, target = _check_budget(args, len(y), label), "continuous target"
    elif args.task == "multilabel":
        budget = _check_multilabel_sizes(args, y, label)
        target = f"{y.shape[1]} labels"
    else:
        budget, n_classes = _check_sizes(args, y, label)
        target = f"{n_classes} classes"
    strategies = list(args.strategies)
    added = "random" not in strategies and not args.no_baseline
    if added:
        strategies.insert(0, "random")

    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out}: {exc}") from None

    runs = (
        f"{_count(len(strategies), 'strategy', 'strategies')} x "
        f"{_count(args.seeds, 'seed', 'seeds')}"
    )
    say(
        f"activekit benchmark: {label} ({len(y)} rows, {X.shape[1]} features, "
        f"{target}), {args.estimator}, {runs}, {args.initial} -> {budget} labels "
        f"in batches of {args.batch_size}",
        flush=True,
    )
    if added:
        say("random added as the baseline (--no-baseline leaves it out)", flush=True)
    start = time.perf_counter()
    results = evaluate_strategies(
        X,
        y,
        estimator=make_estimator(args.estimator, args.task),
        strategies=strategies,
        seeds=args.seeds,
        budget=budget,
        batch_size=args.batch_size,
        n_initial=args.initial,
        test_size=args.test_size,
        n_jobs=args.jobs,
        verbose=0 if args.quiet else 1,
        dataset=label,
        task=args.task,
    )
    elapsed = time.perf_counter() - start
    say()
    print(results.summary_table(), flush=True)
    if results.metrics[1:]:  # multi-label: macro F1 and Hamming loss beside micro F1
        print(f"\n{results.metrics_table()}", flush=True)
    say()
    say(_note("random" in strategies, args.seeds, TASKS[args.task].score))
    if results.metrics[1:]:
        say(
            textwrap.fill(
                "Hamming loss: the share of wrong labels, lower is better. Savings by macro F1 "
                "or Hamming loss: ActiveLearningResults.from_json(results.json).summary_table("
                "metric='hamming_loss').",
                width=88,
            )
        )
    json_path = out / "results.json"
    results.to_json(json_path)
    say(f"\nwrote {json_path}")
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        if not args.quiet:
            print(
                "learning-curve PNG skipped: matplotlib is not installed "
                '(pip install "activekit[plot]")',
                file=sys.stderr,
            )
    else:
        png = out / "learning_curve.png"
        over = "1 seed" if args.seeds == 1 else f"mean ± std over {args.seeds} seeds"
        display = ActiveLearningCurveDisplay.from_results(
            results, title=f"{label}, {args.estimator}: {over}"
        )
        display.figure_.tight_layout()
        display.figure_.savefig(png, dpi=110)
        import matplotlib.pyplot as plt

        plt.close(display.figure_)
        say(f"wrote {png}")
    say(f"({elapsed:.1f} s)")
    return 0


def main(argv=None):
    """Run the command line; returns the exit status (errors exit with status 2, one line on
    stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "strategies":
        print("\n".join(get_strategy_names()))
        return 0
    if args.command == "label":
        return _label_main(parser, args)
    if args.command == "serve":
        return _serve_main(parser, args)
    with _quiet_convergence():
        try:
            return benchmark(args)
        except (UsageError, ValueError, TypeError, ImportError) as exc:
            parser.exit(2, f"activekit: error: {_one_line(exc)}\n")
        except KeyboardInterrupt:
            parser.exit(130, "activekit: interrupted\n")


@contextlib.contextmanager
def _quiet_convergence():
    """Silence ConvergenceWarning (a UserWarning) from models fitted on a few labels, which
    would drown the table, here and in worker processes started meanwhile (they inherit the
    environment); both are restored afterwards."""
    from sklearn.exceptions import ConvergenceWarning

    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "ignore::UserWarning"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            yield
    finally:
        if saved is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = saved
