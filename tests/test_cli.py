"""The command line: `activekit benchmark` end to end, and its error paths."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from activekit._cli import main
from activekit.evaluation import ActiveLearningResults
from activekit.strategies import get_strategy_names


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_benchmark_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    code, out, _ = run(
        capsys, "benchmark", "--dataset", "iris", "--budget", "30", "--initial", "9",
        "--batch-size", "7", "--seeds", "2", "--strategies", "random,margin",
        "--output", str(tmp_path / "out"),
    )
    assert code == 0
    assert "iris (150 rows, 4 features, 3 classes)" in out
    for header in ("final score", "AUC", "label savings"):
        assert header in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith(("random", "margin"))] == [
        "random", "margin"
    ]
    results = ActiveLearningResults.from_json(tmp_path / "out" / "results.json")
    assert results.strategies == ["random", "margin"]
    assert results.seeds == [0, 1]
    counts, _ = results.curve("margin", 1)
    assert counts.tolist() == [9, 16, 23, 30]
    png = (tmp_path / "out" / "learning_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "PYTHONWARNINGS" not in os.environ  # set for worker processes, then restored


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "mnist"], "unknown dataset 'mnist'; use one of digits, breast_cancer"),
        (["--dataset", "missing.csv", "--target", "y"], "no such file: missing.csv"),
        (["--dataset", "{csv}"], "--target must name the label column"),
        (["--dataset", "{csv}", "--target", "nope"], "target column 'nope' is not in"),
        (["--dataset", "{bad_csv}", "--target", "label"], "feature 'b' has the non-numeric value 'x'"),
        (["--dataset", "iris", "--target", "y"], "--target is only for CSV files"),
        (["--dataset", "iris", "--budget", "200"], "--budget 200 is larger than the pool"),
        (["--initial", "50", "--budget", "40"], "--initial 50 is larger than --budget 40"),
        (["--strategies", "margin,qbc"], "unknown strategy 'qbc'; valid names are adaptive, badge, bald, batch_bald, cluster_margin"),
        (["--estimator", "xgboost"], "invalid choice: 'xgboost'"),
        (["--budget", "0"], "expected a positive integer, got 0"),
        (["--seeds", "two"], "expected a positive integer, got 'two'"),
        (["--test-size", "1.5"], "expected a fraction in (0, 1) or a row count"),
        (["--jobs", "0"], "--jobs must be a positive number"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    csv_path = tmp_path / "ok.csv"
    csv_path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text("a,b,label\n1,2,0\n3,x,1\n")
    argv = [a.format(csv=csv_path, bad_csv=bad_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(["benchmark", *argv, "--output", str(tmp_path / "o")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("activekit") or "usage:" in err


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
