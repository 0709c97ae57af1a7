"""The command line: `activekit benchmark` end to end, and its error paths."""

import io
import json
import os
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest

import activekit
from activekit._cli import main
from activekit.evaluation import ActiveLearningResults
from activekit.strategies import get_strategy_names


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def table(out):
    """The summary table's lines: from its header to the first blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("strategy "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def table_rows(out, names):
    """The summary table's rows for ``names``, by the first word of each line."""
    return {line.split()[0]: line for line in table(out)[1:] if line.split()[0] in names}


def test_benchmark_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    code, out, err = run(
        capsys, "benchmark", "--dataset", "iris", "--budget", "30", "--initial", "9",
        "--batch-size", "7", "--seeds", "2", "--strategies", "random,margin",
        "--output", str(tmp_path / "out"),
    )
    assert code == 0
    assert err == ""  # no progress bar when stderr is not a terminal
    assert "iris (150 rows, 4 features, 3 classes), logreg, 2 strategies x 2 seeds" in out
    assert "added as the baseline" not in out  # random was asked for
    for header in ("final score", "AUC", "label savings"):
        assert header in out
    assert [line.split()[0] for line in table(out)[1:]] == ["random", "margin"]
    rows = table_rows(out, ["random", "margin"])
    assert rows["random"].endswith("(baseline: noise floor)")
    assert "noise floor" not in rows["margin"]
    assert rows["margin"].count("±") >= 2  # two seeds: mean ± std
    results = ActiveLearningResults.from_json(tmp_path / "out" / "results.json")
    assert results.strategies == ["random", "margin"]
    assert results.seeds == [0, 1]
    counts, _ = results.curve("margin", 1)
    assert counts.tolist() == [9, 16, 23, 30]
    png = (tmp_path / "out" / "learning_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "PYTHONWARNINGS" not in os.environ  # set for worker processes, then restored


def test_random_is_added_as_the_baseline_and_one_seed_has_no_spread(tmp_path, capsys):
    code, out, _ = run(capsys, "benchmark", "--dataset", "iris", "--budget", "30", "--seeds", "1",
                       "--strategies", "margin,entropy", "--output", str(tmp_path))
    assert code == 0
    assert "3 strategies x 1 seed," in out
    assert "random added as the baseline" in out
    rows = table_rows(out, ["random", "margin", "entropy"])
    assert list(rows) == ["random", "margin", "entropy"]
    assert rows["random"].endswith("(baseline: noise floor)")
    assert not any("±" in row or "not reached (0/" in row or "(1/1)" in row for row in rows.values())
    # One seed: the savings are whole labels, against random's 30.
    header = next(line for line in out.splitlines() if line.startswith("strategy"))
    assert "labels to 0." in header
    assert ActiveLearningResults.from_json(tmp_path / "results.json").strategies == [
        "random", "margin", "entropy"
    ]


def test_no_baseline_says_so_in_the_savings_column(tmp_path, capsys):
    code, out, _ = run(capsys, "benchmark", "--dataset", "iris", "--budget", "30", "--seeds", "2",
                       "--strategies", "margin", "--no-baseline", "--output", str(tmp_path))
    assert code == 0
    assert "added as the baseline" not in out
    rows = table_rows(out, ["random", "margin"])
    assert list(rows) == ["margin"]
    assert rows["margin"].endswith("no random baseline")
    assert "not reached" not in out


def test_default_budget_shrinks_to_a_small_pool(tmp_path, capsys):
    code, out, _ = run(capsys, "benchmark", "--dataset", "wine", "--seeds", "1",
                       "--strategies", "entropy", "--output", str(tmp_path))
    assert code == 0
    assert "20 -> 133 labels" in out  # 178 rows, 45 held out


def test_csv_dataset(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    lines = ["a,label,b,c"] + [f"{r[0]},{t},{r[1]},{r[2]}" for r, t in zip(X, y, strict=True)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "benchmark", "--dataset", str(path), "--target", "label",
                       "--budget", "40", "--seeds", "1", "--output", str(tmp_path / "o"))
    assert code == 0
    assert "data.csv (120 rows, 3 features, 2 classes)" in out


VALID_STRATEGIES = ", ".join(get_strategy_names())

BAD_INPUT = [
    # Checked by the command line against the dataset.
    (["--dataset", "mnist"], "unknown dataset 'mnist'; use one of digits, breast_cancer, wine, iris or a path to a CSV file"),
    (["--dataset", "digts"], "unknown dataset 'digts'; did you mean 'digits'? Use one of digits, breast_cancer"),
    (["--dataset", "missing.csv", "--target", "y"], "no such file: missing.csv"),
    (["--dataset", "{csv}"], "--target must name the label column"),
    (["--dataset", "{csv}", "--target", "nope"], "target column 'nope' is not in"),
    (["--dataset", "{bad_csv}", "--target", "label"], "feature 'b' has the non-numeric value 'x'"),
    (["--dataset", "iris", "--target", "y"], "--target is only for CSV files"),
    (["--dataset", "iris", "--budget", "200"], "--budget 200 is larger than the pool"),
    (["--initial", "50", "--budget", "40"], "--initial 50 must be smaller than --budget 40"),
    (["--initial", "40", "--budget", "40"], "--initial 40 must be smaller than --budget 40"),
    (["--initial", "1"], "--initial 1 is too small: digits has 10 classes and the initial set needs a row of each, so --initial must be at least 10"),
    (["--dataset", "iris", "--initial", "2"], "--initial 2 is too small: iris has 3 classes"),
    (["--test-size", "5"], "--test-size 5 holds out 5 rows, fewer than the 10 classes of digits"),
    (["--dataset", "{singleton}", "--target", "y", "--initial", "3", "--budget", "10"], "class 'c' of singleton.csv has a single row; the held-out set is stratified"),
    # Checked by argparse: one line too, no usage block.
    (["--strategies", "margn"], f"unknown strategy 'margn'; did you mean 'margin'? Valid: {VALID_STRATEGIES}"),
    (["--strategies", "margin,qbc"], f"unknown strategy 'qbc'; valid: {VALID_STRATEGIES}"),
    (["--strategies", "entropi,margin"], "unknown strategy 'entropi'; did you mean 'entropy'?"),
    (["--strategies", ","], "expected comma-separated strategy names, got ','"),
    (["--strategies", "margin,margin"], "margin named more than once"),
    (["--estimator", "logrg"], "unknown estimator 'logrg'; did you mean 'logreg'? Valid: logreg, random_forest"),
    (["--estimator", "xgboost"], "unknown estimator 'xgboost'; valid: logreg, random_forest, hist_gradient_boosting, mlp, svm"),
    (["--budget", "0"], "argument --budget: expected a positive integer, got 0"),
    (["--budget", "-5"], "argument --budget: expected a positive integer, got -5"),
    (["--budget"], "argument --budget: expected one argument"),
    (["--seeds", "two"], "expected a positive integer, got 'two'"),
    (["--test-size", "1.5"], "expected a fraction in (0, 1) or a row count >= 1, got 1.5"),
    (["--test-size", "abc"], "argument --test-size: expected a number, got 'abc'"),
    (["--jobs", "abc"], "argument --jobs: expected an integer (-1 for every core), got 'abc'"),
    (["--jobs", "0"], "argument --jobs: expected a positive number of runs in parallel or a negative one"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(c[0]) for c in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, argv, message):
    csv_path = tmp_path / "ok.csv"
    csv_path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text("a,b,label\n1,2,0\n3,x,1\n")
    singleton = tmp_path / "singleton.csv"
    singleton.write_text("a,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(40)) + "99,c\n")
    argv = [a.format(csv=csv_path, bad_csv=bad_path, singleton=singleton) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(["benchmark", *argv, "--output", str(tmp_path / "o")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("activekit: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err  # one line: no usage block, no traceback
    assert "usage:" not in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # refused before any work


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["benchmrk"], "unknown command 'benchmrk'; did you mean 'benchmark'? Valid: benchmark, strategies"),
        ([], "required: command (benchmark, strategies, label or serve;"),
        (["--verbose", "benchmark"], "unrecognized arguments: --verbose"),
    ],
)
def test_command_errors_are_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("activekit: error: ")


def test_errors_are_one_line_from_the_console_too(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "activekit", "benchmark", "--strategies", "margn",
         "--output", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"activekit: error: argument --strategies: unknown strategy 'margn'; did you mean 'margin'? "
        f"Valid: {VALID_STRATEGIES}"
    ]


def test_help_and_version_print_normally_and_exit_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--help"])
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: activekit benchmark") and err == ""
    for option in ("--strategies", "--no-baseline", "--initial", "--quiet", "--jobs"):
        assert option in out
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"activekit {version('activekit')}\n"
    assert version("activekit") == activekit.__version__


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal, so that tqdm draws its bar into it."""

    def isatty(self):
        return True


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_progress_bar_on_a_terminal_and_quiet_prints_only_the_table(tmp_path, capsys, monkeypatch, jobs):
    argv = ["benchmark", "--dataset", "iris", "--budget", "25", "--initial", "10", "--batch-size", "5",
            "--seeds", "2", "--strategies", "random,margin", "--jobs", jobs, "--output", str(tmp_path)]
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    bar = terminal.getvalue()
    if jobs == "1":
        # Every round of every run: 2 strategies x 2 seeds x 4 rounds.
        assert "run 4/4: margin, seed 1" in bar and "16/16" in bar and "round" in bar
    else:
        assert "runs" in bar and "4/4" in bar
    loud = capsys.readouterr().out

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main([*argv, "--quiet"]) == 0
    assert terminal.getvalue() == ""
    quiet = capsys.readouterr().out
    table = quiet.splitlines()
    assert table[0].startswith("strategy") and [row.split()[0] for row in table[1:]] == ["random", "margin"]
    assert "\n".join(table) in loud  # the same table, and nothing else
    assert (tmp_path / "results.json").exists()  # still written


def test_strategies_command(capsys):
    code, out, _ = run(capsys, "strategies")
    assert code == 0
    assert out.split() == get_strategy_names()


def test_console_entry_point_runs_as_a_module(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "activekit", "benchmark", "--dataset", "iris", "--budget", "25",
         "--seeds", "1", "--strategies", "random", "--output", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    assert "random" in done.stdout
    assert json.loads((tmp_path / "results.json").read_text())["format"].startswith("activekit")


def test_interrupt_is_one_line(tmp_path, capsys, monkeypatch):
    import activekit.evaluation

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(activekit.evaluation, "evaluate_strategies", interrupted)
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--dataset", "iris", "--quiet", "--output", str(tmp_path)])
    assert info.value.code == 130
    captured = capsys.readouterr()
    assert captured.err == "activekit: interrupted\n" and captured.out == ""


# -- --task multilabel ---------------------------------------------------------------------


def test_multilabel_benchmark_on_yeast(tmp_path, capsys):
    pytest.importorskip("river")
    code, out, err = run(
        capsys, "benchmark", "--task", "multilabel", "--strategies", "mmc", "--seeds", "1",
        "--budget", "40", "--initial", "20", "--batch-size", "10", "--output", str(tmp_path),
    )
    assert code == 0 and err == ""
    assert "yeast (2417 rows, 103 features, 14 labels), logreg, 2 strategies x 1 seed" in out
    assert "random added as the baseline" in out
    lines = out.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("strategy")]
    assert len(header) == 2  # the micro-F1 table, then macro F1 and Hamming loss
    assert "final score" in lines[header[0]]
    assert lines[header[1]].split() == [
        "strategy", "final", "f1_macro", "AUC", "f1_macro", "final", "hamming_loss", "AUC",
        "hamming_loss",
    ]
    assert [lines[i].split()[0] for i in (header[1] + 1, header[1] + 2)] == ["random", "mmc"]
    assert "AUC: mean micro F1 over the learning curve" in out
    assert "summary_table(metric='hamming_loss')" in out
    results = ActiveLearningResults.from_json(tmp_path / "results.json")
    meta = results.metadata
    assert (meta["task"], meta["dataset"], meta["scoring"]) == ("multilabel", "yeast", "f1_micro")
    assert meta["lower_is_better"] == ["hamming_loss"]
    assert "OneVsRestClassifier" in meta["estimator"]
    counts, loss = results.curve("mmc", 0, metric="hamming_loss")
    assert counts.tolist() == [20, 30, 40] and np.all((loss > 0) & (loss < 0.5))


def test_multilabel_benchmark_on_a_csv_with_several_targets(tmp_path, capsys):
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=150, n_features=4, n_classes=3, random_state=0)
    lines = ["f0,a,f1,b,f2,c,f3"] + [
        f"{x[0]},{y[0]},{x[1]},{y[1]},{x[2]},{y[2]},{x[3]}" for x, y in zip(X, Y, strict=True)
    ]
    path = tmp_path / "ml.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = run(
        capsys, "benchmark", "--task", "multilabel", "--dataset", str(path), "--target", "a,b,c",
        "--strategies", "random,mean_max_loss", "--seeds", "1", "--budget", "30",
        "--initial", "10", "--output", str(tmp_path / "o"), "--quiet",
    )
    assert code == 0
    assert [line.split()[0] for line in out.splitlines() if line.strip()] == [
        "strategy", "random", "mean_max_loss", "strategy", "random", "mean_max_loss"
    ]
    meta = json.loads((tmp_path / "o" / "results.json").read_text())["metadata"]
    assert meta["n_features"] == 4 and meta["task"] == "multilabel"


MULTILABEL_BAD_INPUT = [
    (["--dataset", "iris"], "--dataset iris is a classification data set; for --task multilabel use yeast or a CSV file with comma-separated 0/1 --target columns"),
    (["--estimator", "svm"], "--estimator svm is not for --task multilabel; use one of logreg"),
    (["--estimator", "ridge"], "--estimator ridge is not for --task multilabel"),
    (["--dataset", "{csv}", "--target", "a"], "--target 'a' must name at least 2 distinct label columns"),
    (["--dataset", "{csv}", "--target", "a,a"], "must name at least 2 distinct label columns"),
    (["--dataset", "{csv}", "--target", "a,z"], "target column 'z' is not in"),
    (["--dataset", "{csv}", "--target", "a,c"], "line 3: label column 'c' holds '2'; multi-label targets must be 0 or 1"),
    (["--dataset", "{csv}", "--target", "a,b", "--budget", "3"], "label column 1 of ok.csv holds a single value"),
    (["--dataset", "{csv}", "--target", "a,d", "--initial", "1", "--budget", "3"], "--initial 1 is too small: the initial set holds a positive and a negative row of every label, so --initial must be at least 2"),
    (["--dataset", "{csv}", "--target", "a,d", "--budget", "30"], "--budget 30 is larger than the pool"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'; use one of yeast or a path to a CSV file"),
    # The initial draw (seed 0) needs 3 rows to hold both values of a and d.
    (["--dataset", "{csv}", "--target", "a,d", "--initial", "2", "--budget", "6"], "n_initial=2 is too small for an initial set holding a positive and a negative row of each of the 2 labels: this draw needs 3 rows; raise n_initial to at least 3"),
    (["--strategies", "margin", "--dataset", "{csv}", "--target", "a,d", "--initial", "4", "--budget", "6"], "supports targets ['binary', 'multiclass'], not 'multilabel-indicator'"),
]


@pytest.mark.parametrize(("argv", "message"), MULTILABEL_BAD_INPUT,
                         ids=[" ".join(c[0]) for c in MULTILABEL_BAD_INPUT])
def test_multilabel_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, argv, message):
    csv_path = tmp_path / "ok.csv"
    rows = [f"{i},{i % 2},1,{2 if i == 1 else i % 3 % 2},{i // 2 % 2}" for i in range(12)]
    csv_path.write_text("x,a,b,c,d\n" + "\n".join(rows) + "\n")
    argv = [a.format(csv=csv_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--task", "multilabel", *argv, "--output", str(tmp_path / "o")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("activekit: error: ") and err.count("\n") == 1, err


def test_yeast_is_not_for_other_tasks_and_needs_river(tmp_path, capsys, monkeypatch):
    for task in ("classification", "regression"):
        with pytest.raises(SystemExit) as info:
            main(["benchmark", "--task", task, "--dataset", "yeast", "--output", str(tmp_path)])
        assert info.value.code == 2
        assert f"--dataset yeast is a multi-label data set; for --task {task} use" in (
            capsys.readouterr().err
        )
    monkeypatch.setitem(sys.modules, "river.datasets", None)
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--task", "multilabel", "--output", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert 'river is required for this feature' in err and 'activekit[multilabel]' in err
    assert err.count("\n") == 1
