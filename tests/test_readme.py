"""The README's example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    for block in blocks:
        namespace = {}
        exec(compile(block, str(README), "exec"), namespace)
    assert len(namespace["learner"].y_labeled_) == 60
    assert namespace["sim"].stop_reason_
    assert namespace["results"].strategies == ["random", "margin"]
    assert namespace["search"].best_params_["query_strategy"] in {
        "random", "least_confident", "margin", "entropy"
    }


def test_readme_commands_are_the_ones_ci_runs():
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = 'pip install -e ".[dev]" && python -m pytest'
    assert test_command in text
    assert test_command in ci
    assert 'pip install ".[plot]" && activekit benchmark' in text
