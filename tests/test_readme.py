"""The README's example runs as written."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_prints_what_it_computes():
    """Run as a script (no interactive echo of bare expressions), the example prints each
    result it computes."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    blocks = [b for b in blocks if "LabelingSession" not in b]  # the next test runs that one
    assert blocks, "the README has no python example"
    for block in blocks:
        namespace = {"__name__": "__main__"}
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block, str(README), "exec"), namespace)
    assert len(namespace["learner"].y_labeled_) == 60
    sim, search, results = namespace["sim"], namespace["search"], namespace["results"]
    assert sim.stop_reason_
    assert results.strategies == ["random", "margin"]
    best = search.best_params_["query_strategy"]
    assert best in {"random", "least_confident", "margin", "entropy"}
    lines = printed.getvalue().splitlines()
    assert lines[:3] == [
        "labelled rows: 60",
        f"stopped after {len(sim.labeled_indices_)} labels: {sim.stop_reason_}",
        f"best strategy at 100 labels: {best}",
    ]
    assert "\n".join(lines[3:]) == results.summary_table()


def test_readme_session_example_runs_and_resumes_the_campaign():
    """The labelling-campaign example records three answered batches, refits after each and
    reopens the file in a fresh session."""
    (block,) = [
        b
        for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
        if "LabelingSession" in b
    ]
    namespace = {"__name__": "__main__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, str(README), "exec"), namespace)
    session = namespace["session"]
    try:
        assert printed.getvalue() == "30 labels, model version 3\n"
        labels = session.labels()
        assert len(labels) == 30 and set(labels["annotator"]) == {"ann"}
        ids, y = namespace["ids"], namespace["y"]
        assert all(y[ids.index(i)] == lab for i, lab in zip(labels["id"], labels["label"], strict=True))
        csv = Path(namespace["path"]).parent / "labels.csv"
        assert csv.is_file() and len(csv.read_text().splitlines()) == 31
    finally:
        session.close()


def test_readme_quick_start_output_is_what_the_command_prints_now():
    """The fixed parts of `activekit benchmark`'s output (its first line, the table's header
    and the baseline's mark, the notes under it) are in the README's copy as printed."""
    from activekit._cli import _note

    text = README.read_text()
    quick = text[text.index("## Quick start"):text.index("## Example")]
    block = re.search(r"```\n(activekit benchmark: .*?)```", quick, flags=re.S).group(1)
    lines = block.splitlines()
    assert lines[0] == (
        "activekit benchmark: digits (1797 rows, 64 features, 10 classes), logreg, "
        "4 strategies x 3 seeds, 20 -> 200 labels in batches of 10"
    )
    header = next(line for line in lines if line.startswith("strategy "))
    assert header.split()[:4] == ["strategy", "final", "score", "AUC"]
    assert header.endswith("label savings")
    rows = lines[lines.index(header) + 1:lines.index(header) + 5]
    assert [row.split()[0] for row in rows] == ["random", "least_confident", "margin", "entropy"]
    assert rows[0].endswith("(baseline: noise floor)")
    assert all(row.count("±") == 3 for row in rows)
    assert _note(True, 3) in block
    assert "wrote activekit-output/results.json\nwrote activekit-output/learning_curve.png" in block


def test_readme_commands_are_the_ones_ci_runs():
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = 'pip install -e ".[dev]" && python -m pytest'
    assert test_command in text
    assert test_command in ci
    assert 'pip install ".[plot]" && activekit benchmark' in text
