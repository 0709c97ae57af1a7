"""A process that works on a labelling session, for tests/test_session_kill.py to kill.

Run as ``python tests/support/session_worker.py PATH COMMAND [ARGS...]``. It prints one JSON
object a line on stdout (flushed) to say where it is: ``{"ready": true}`` once the session is
open, then what each command reports. The pool is the first ``N_POOL`` rows of scikit-learn's
digits and the oracle their labels (``pool()`` gives both to the test too).

Commands:

- ``ask [together]``: ``next_batch()`` (with ``together``, once the file ``PATH.go``
  exists), print ``{"asked": ids}``, then wait to be killed.
- ``record-hang``: record the oracle's labels for the pending batch, stopping inside the
  transaction (``{"stage": "record:in_transaction"}``) to be killed.
- ``refit-hang STAGE``: refit, stopping at ``STAGE`` (``refit:fitted``, ``refit:written``,
  ``refit:in_transaction``) to be killed.
- ``campaign ROUNDS``: drive a campaign to ``ROUNDS`` model versions, one idempotent step at a
  time (:func:`step`), pausing a random few milliseconds at every stage of a write, so that a
  kill at a random moment lands anywhere, inside transactions too; prints each step.
- ``fork-campaign ROUNDS``: import once, then for each line ``go`` read on stdin fork a child
  that runs ``campaign ROUNDS`` (printing ``{"ready": true, "pid": ...}`` first, then its
  steps), and print ``{"exited": status}`` when it ends; a child starts in milliseconds, so
  a test can kill many of them.
- ``record-many START STOP STEP``: once the file ``PATH.go`` exists, record the oracle's label
  of each id in ``range(START, STOP, STEP)``, one transaction each, refitting every 10; prints
  ``{"done": n}``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback

N_POOL = 60
CLASSES = list(range(10))


def pool():
    """``(X, y)``: the pool's rows (ids are positions) and the oracle's labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:N_POOL] / 16.0, y[:N_POOL]


def make_learner():
    from activekit import ActiveLearningClassifier

    return ActiveLearningClassifier(batch_size=6, random_state=11)


def say(**message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def hang():
    while True:
        time.sleep(60)


def wait_for_go(path):
    """Wait for the file ``PATH.go``: the test's signal that every worker is ready."""
    while not os.path.exists(path + ".go"):
        time.sleep(0.005)


def step(session, y, rounds):
    """One step of a campaign that any kill leaves resumable: record the pending batch, or
    refit a model that lags the labels, or ask a new batch; ``None`` once ``rounds`` models
    were fitted or the pool is used up."""
    pending = session.pending()
    if pending:
        session.record(pending, [int(y[i]) for i in pending], annotator="worker")
        return {"recorded": pending}
    if session.labels_since_refit and session.labels()["label"].nunique() >= 2:
        if session.model_version >= rounds:
            return None
        return {"version": session.refit()}
    asked = session.next_batch()
    return {"asked": asked} if asked else None


def campaign(session, y, rounds):
    """Run :func:`step` to the end, pausing 0-20 ms at every stage of each write (and saying
    ``{"stage": ...}`` before and ``{"resumed": ...}`` after: a process killed between the
    two died inside the pause)."""
    from activekit.session import _session as session_module

    rng = random.Random(os.getpid())

    def pause(stage):
        say(stage=stage)
        time.sleep(rng.uniform(0, 0.02))
        say(resumed=stage)

    session_module._pause = pause
    while True:
        done = step(session, y, rounds)
        if done is None:
            break
        say(**done)
    say(finished=True)


def supervise(path, X, y, rounds):
    """``fork-campaign``: a forked child per ``go`` line; the parent never opens the session
    (a child must not inherit an SQLite connection)."""
    from activekit.session import LabelingSession

    for line in sys.stdin:
        if line.strip() != "go":
            break
        child = os.fork()
        if child == 0:
            code = 0
            try:
                session = LabelingSession.open(path, X)
                say(ready=True, pid=os.getpid())
                campaign(session, y, rounds)
                session.close()
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(child, 0)
        say(exited=status)


def main(argv):
    path, command, *args = argv
    threads = os.environ.get("OMP_NUM_THREADS")
    assert threads == "1", f"run the worker with OMP_NUM_THREADS=1, got {threads!r}"
    from activekit.session import LabelingSession
    from activekit.session import _session as session_module

    X, y = pool()
    if command == "fork-campaign":
        supervise(path, X, y, int(args[0]))
        return
    session = LabelingSession.open(path, X)
    say(ready=True, pid=os.getpid())

    if command == "ask":
        if args == ["together"]:
            wait_for_go(path)
        say(asked=session.next_batch())
        hang()
    elif command in ("record-hang", "refit-hang"):
        target = "record:in_transaction" if command == "record-hang" else args[0]

        def stop_at(stage):
            if stage == target:
                say(stage=stage)
                hang()

        session_module._pause = stop_at
        if command == "record-hang":
            pending = session.pending()
            session.record(pending, [int(y[i]) for i in pending])
        else:
            session.refit()
        say(error="did not stop")
    elif command == "campaign":
        campaign(session, y, int(args[0]))
    elif command == "record-many":
        start, stop, every = (int(a) for a in args)
        wait_for_go(path)
        n = 0
        for pid in range(start, stop, every):
            session.record([pid], [int(y[pid])], annotator=f"process-{start}")
            n += 1
            if n % 10 == 0:
                session.refit()
        say(done=n)
    else:
        raise SystemExit(f"unknown command {command!r}")
    session.close()


if __name__ == "__main__":
    main(sys.argv[1:])
