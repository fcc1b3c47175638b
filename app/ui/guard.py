"""Slots that log and show an exception instead of letting it kill the app (as Photini does).

An exception escaping a slot would otherwise end the process (PySide6 prints it and Qt may
abort). `guarded` catches it, logs the traceback and hands a short message to the reporter the
main window installs, which shows it without blocking the event loop.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from app import priority

log = logging.getLogger("app.ui")

F = TypeVar("F", bound=Callable[..., Any])
Reporter = Callable[[str, str], None]  # (summary, details)

_reporters: list[Reporter] = []
caught: list[BaseException] = []  # every exception a guard stopped; tests assert it stays empty


def set_reporter(reporter: Reporter | None) -> None:
    """The function that shows errors to the user (the main window sets one, tests may too)."""
    _reporters.clear()
    if reporter is not None:
        _reporters.append(reporter)


def report_exception(exc: BaseException, where: str = "") -> None:
    caught.append(exc)
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("unexpected error%s\n%s", f" in {where}" if where else "", details)
    summary = f"{type(exc).__name__}: {exc}"
    for reporter in _reporters:
        try:
            reporter(summary, details)
        except Exception:  # the reporter itself must never make things worse
            log.exception("error reporter failed")


def guarded(fn: F) -> F:
    """Decorate a slot: an exception is logged and shown, and the slot returns None."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with priority.gui_work():  # other threads' long loops wait (app.priority)
                return fn(*args, **kwargs)
        except Exception as exc:
            report_exception(exc, getattr(fn, "__qualname__", ""))
            return None

    return wrapper  # type: ignore[return-value]


def install_excepthook() -> None:
    """Anything that still escapes (a virtual method override, a lambda) is reported too."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        report_exception(exc.with_traceback(tb), "event loop")

    sys.excepthook = hook
