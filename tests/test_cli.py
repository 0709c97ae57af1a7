"""The command line's demo run on the embedded digits data."""

import subprocess
import sys

import pytest

from activekit.__main__ import main


def test_demo_prints_learning_curves(capsys):
    assert main(["--budget", "40", "--batch-size", "10", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "labels" in out and "random" in out and "margin" in out
    rows = [line for line in out.splitlines() if line.strip()[:2].isdigit()]
    assert [int(r.split()[0]) for r in rows] == [20, 30, 40]
    assert "reaches random's final accuracy" in out


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--budget", "5"])
    assert info.value.code == 2
    assert "--initial <= --budget" in capsys.readouterr().err


def test_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "activekit", "--budget", "30", "--seeds", "1"],
        capture_output=True, text=True, check=True,
    )
    assert "margin" in done.stdout
