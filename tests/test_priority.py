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


class Clock:
    """priority's clock and its wait for the GUI thread, made deterministic: a wait that runs
    out advances the clock by its timeout, each item of a loop by `item_s`."""

    def __init__(self, item_s: float = 0.0) -> None:
        self.now, self.item_s, self.waits = 1000.0, item_s, 0

    def monotonic(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        self.now += timeout
        return False  # the GUI thread is still busy


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(priority, "time", fake)
    monkeypatch.setattr(priority._idle, "wait", fake.wait)
    monkeypatch.setattr(priority._local, "free_until", 0.0, raising=False)
    return fake


def in_thread(fn) -> threading.Thread:
    worker = threading.Thread(target=fn)
    worker.start()
    return worker


def test_pause_costs_nothing_while_the_gui_thread_is_idle(clock: Clock) -> None:
    for _ in range(1000):
        priority.pause()
    assert clock.waits == 0  # it never waited: nothing of the GUI thread's was running


def test_gui_work_holds_other_threads_back_until_it_ends(monkeypatch):
    monkeypatch.setattr(priority, "MAX_WAIT_S", 60.0)  # long enough: the end must release it
    released: list[bool] = []
    ended = threading.Event()
    with priority.gui_work():
        with priority.gui_work():  # nested: the outermost one counts
            worker = in_thread(lambda: (priority.pause(), released.append(ended.is_set())))
        time.sleep(0.1)
        assert not released  # still waiting for the GUI thread
        ended.set()
    worker.join(30.0)
    assert released == [True]  # it went on only once the GUI thread's work had ended


def test_other_threads_gui_work_holds_nobody_back(clock: Clock) -> None:
    def other() -> None:
        with priority.gui_work():  # not the GUI thread: it marks nothing
            assert priority._idle.is_set()
            priority.pause()

    in_thread(other).join()
    priority.pause()
    assert clock.waits == 0


def test_a_gui_thread_that_never_rests_slows_others_without_stopping_them(clock: Clock) -> None:
    """Each wait is bounded (MAX_WAIT_S), and after one that ran out the loop runs FREE_S
    unhindered: with items 1 ms apart, one pause in eleven waits."""
    with priority.gui_work():
        for _ in range(220):
            priority.pause()
            clock.now += 0.001  # the loop's item
    assert clock.waits == 20
    assert clock.now == pytest.approx(1000.0 + 220 * 0.001 + 20 * priority.MAX_WAIT_S)


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
