import copy
import threading

import pytest

from orchestrator.tracking.writer import Writer, mlflow_writer


def test_actions_run_off_the_caller_thread_in_the_order_submitted():
    writer, seen, threads = Writer(), [], set()
    gate = threading.Event()
    writer.submit(gate.wait)  # held: nothing below may run before the caller goes on
    for k in range(50):
        writer.submit(lambda k=k: (seen.append(k), threads.add(threading.current_thread())))
    assert seen == []
    gate.set()
    writer.drain()
    assert seen == list(range(50))
    assert threads and threading.main_thread() not in threads


def test_an_actions_error_reaches_the_caller_once_and_later_actions_still_run():
    writer, seen = Writer(), []

    def broken() -> None:
        raise KeyError("run id")

    writer.submit(broken)
    writer.submit(lambda: seen.append("after"))
    with pytest.raises(KeyError, match="run id"):
        writer.drain()
    writer.drain()  # raised once, not again
    assert seen == ["after"]


def test_a_copied_writer_is_the_processs_own():
    # Tune pickles the callbacks that hold it; a copy goes through the same __reduce__
    assert copy.deepcopy(Writer()) is mlflow_writer()
