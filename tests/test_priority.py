"""app.priority: other threads' long loops step aside while the GUI thread works, never for
long, and the window's slots and photo views are what say it works."""

from __future__ import annotations

import threading
import time

import pytest

from app import priority


@pytest.fixture(autouse=True)
def gui_thread():
    priority.set_gui_thread()  # this test's thread plays the GUI thread
    yield
    assert priority._GuiWork.depth == 0
    priority._idle.set()


def timed_pause() -> float:
    started = time.monotonic()
    priority.pause()
    return time.monotonic() - started


def in_thread(fn) -> threading.Thread:
    worker = threading.Thread(target=fn)
    worker.start()
    return worker


def test_pause_costs_nothing_while_the_gui_thread_is_idle():
    assert max(timed_pause() for _ in range(1000)) < 0.005


def test_gui_work_holds_other_threads_back_until_it_ends(monkeypatch):
    monkeypatch.setattr(priority, "MAX_WAIT_S", 5.0)
    waited: list[float] = []
    with priority.gui_work():
        with priority.gui_work():  # nested: the outermost one counts
            worker = in_thread(lambda: waited.append(timed_pause()))
        time.sleep(0.1)
        assert not waited  # still waiting for the GUI thread
    worker.join(2.0)
    assert waited and 0.09 < waited[0] < 2.0


def test_other_threads_gui_work_holds_nobody_back():
    waited: list[float] = []

    def other() -> None:
        with priority.gui_work():
            time.sleep(0.05)

    worker = in_thread(other)
    time.sleep(0.01)
    waited.append(timed_pause())
    worker.join()
    assert waited[0] < 0.005


def test_a_gui_thread_that_never_rests_slows_others_without_stopping_them():
    waited: list[float] = []
    with priority.gui_work():
        worker = in_thread(lambda: waited.extend(timed_pause() for _ in range(200)))
        worker.join(10.0)
    assert len(waited) == 200
    assert max(waited) < priority.MAX_WAIT_S + 0.05  # each wait is bounded
    # after a wait that ran out, the thread runs FREE_S unhindered: most calls cost nothing
    assert sum(w < 0.001 for w in waited) > 100


def test_guarded_slots_and_photo_view_paints_are_gui_work(qapp):
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QPaintEvent

    from app.ui.guard import guarded
    from app.ui.views import PhotoDelegate, PhotoView

    seen: list[bool] = []

    @guarded
    def slot() -> None:
        seen.append(priority._idle.is_set())

    slot()
    view = PhotoView(PhotoDelegate(), accept_drops=False)
    view.resize(200, 200)
    original = type(view).__mro__[1].paintEvent

    def spy(self, event) -> None:
        seen.append(priority._idle.is_set())
        original(self, event)

    try:
        type(view).__mro__[1].paintEvent = spy
        view.paintEvent(QPaintEvent(QRect(0, 0, 10, 10)))
    finally:
        type(view).__mro__[1].paintEvent = original
    assert seen == [False, False]  # busy inside both
    assert priority._idle.is_set()  # and idle after
