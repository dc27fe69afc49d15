"""The thread that makes a sweep's MLflow calls, so that Tune's loop never waits on them.

A function trainable's ``tune.report`` blocks until the driver's loop has handled the result
and asked for the next one, so every MLflow call made inside a Tune callback stalls the
reporting trial (and any other trial reporting meanwhile): a metric batch into SQLite took
about 25 ms, and a finished configuration's reliability diagrams about a second of drawing,
per configuration. The callback hands those calls to this thread instead, in the order it
was given them; ``drain`` waits until all are made.

One writer serves the whole process: Tune restores a resumed sweep's callbacks from their
pickled copies, so the object the sweep holds may not be the one Tune calls, and the sweep
must still be able to wait for every write before it reads MLflow again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

Action = Callable[[], None]


class Writer:
    """Runs actions one at a time on a background thread, in the order submitted.

    An action's exception is raised again to the caller of the next ``submit`` or
    ``drain``: a defect must end the sweep as it would have inline, not vanish."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Action] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._error: BaseException | None = None

    def __reduce__(self):
        # Tune pickles the callbacks that hold it: a copy is the unpickling process's writer
        return mlflow_writer, ()

    def submit(self, action: Action) -> None:
        self._raise()
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                # a daemon: a driver that dies mid-sweep must not hang on its last writes;
                # what they would have written, a resumed sweep writes (callbacks.py)
                self._thread = threading.Thread(target=self._run, name="mlflow-writer", daemon=True)
                self._thread.start()
        self._queue.put(action)

    def drain(self) -> None:
        """Wait until every action submitted so far has run."""
        self._queue.join()
        self._raise()

    def _run(self) -> None:
        while True:
            action = self._queue.get()
            try:
                action()
            except BaseException as exc:  # kept for the submitting thread
                if self._error is None:
                    self._error = exc
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


_WRITER = Writer()


def mlflow_writer() -> Writer:
    """This process's writer."""
    return _WRITER
