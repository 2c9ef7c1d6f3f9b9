"""The one worker base: a QRunnable whose signals live in a separate QObject.

`run_task(owner, fn, *args, ...)` runs `fn(*args, progress=..., cancel=..., **kwargs)` on the
shared pool. When `fn` returns a generator, each yielded item is emitted as it comes (results
appear while the work runs) and cancel is checked between items. Callbacks run in the GUI
thread: worker signals are connected to a `Task` QObject owned by `owner`, so a closed tab
simply stops receiving them. Errors arrive as (message, details): InspectorError messages are
shown as they are; anything else is "Unexpected error" with the traceback as details.
"""

from __future__ import annotations

import inspect
import threading
import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from ..core.errors import Cancelled, InspectorError, user_message

_pool: Optional[QThreadPool] = None
_active: set["Task"] = set()
_workers: set["Worker"] = set()  # alive until well after run() returned (see Worker.run)
_lock = threading.Lock()


def pool() -> QThreadPool:
    """The pool all GUI workers share (4 threads: work queues instead of oversubscribing)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(4)
    return _pool


class WorkerSignals(QObject):
    started = Signal()
    progress = Signal(int, int, str)  # done, total, message
    yielded = Signal(object)
    result = Signal(object)
    error = Signal(str, str)  # message, details
    cancelled = Signal()
    finished = Signal()


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(message for the user, details for the expander)."""
    if isinstance(exc, InspectorError):
        return str(exc), ""
    known = user_message(exc)
    if known is not None:
        return known[0].upper() + known[1:], "".join(traceback.format_exception(exc))
    text = str(exc) or type(exc).__name__
    return f"Unexpected error: {text}", "".join(traceback.format_exception(exc))


class Worker(QRunnable):
    """Runs one function off the GUI thread; see the module docstring."""

    def __init__(self, fn: Callable[..., Any], *args: Any, hooks: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it: kept in _workers until after it finished
        self.fn, self.args, self.kwargs, self.hooks = fn, args, kwargs, hooks
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self.done_at: Optional[float] = None  # when run() finished, for the GUI-thread reaper

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int, message: str = "") -> None:
        self.signals.progress.emit(int(done), int(total), str(message))

    def run(self) -> None:
        # The GUI thread keeps this worker (and its Python-owned signals QObject) in _workers
        # until a while after done_at, so the last reference is never dropped in this thread.
        try:
            self._run()
        except RuntimeError:  # the signals object is gone (app exiting): nobody is listening
            pass
        finally:
            self.done_at = time.monotonic()

    def _run(self) -> None:
        s = self.signals
        s.started.emit()
        try:
            kwargs = dict(self.kwargs)
            if self.hooks:
                kwargs.update(progress=self._progress, cancel=self.is_cancelled)
            out = self.fn(*self.args, **kwargs)
            if inspect.isgenerator(out):
                for item in out:
                    s.yielded.emit(item)
                    if self.is_cancelled():
                        out.close()
                        raise Cancelled("cancelled by the user")
                out = None
            if self.is_cancelled():
                raise Cancelled("cancelled by the user")
            s.result.emit(out)
        except Cancelled:
            s.cancelled.emit()
        except RuntimeError as exc:
            if "Signal source has been deleted" in str(exc):
                raise
            s.error.emit(*describe_error(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            s.error.emit(*describe_error(exc))
        finally:
            s.finished.emit()


class Task(QObject):
    """GUI-thread handle of a running worker: callbacks, cancel, timing for estimates."""

    progress = Signal(int, int, str)
    finished = Signal()

    def __init__(self, owner: QObject, worker: Worker) -> None:
        super().__init__(owner)
        self.worker = worker
        self.started_at = time.monotonic()
        self.running = True
        self.on_result: Optional[Callable[[Any], None]] = None
        self.on_yield: Optional[Callable[[Any], None]] = None
        self.on_error: Optional[Callable[[str, str], None]] = None
        self.on_cancelled: Optional[Callable[[], None]] = None
        self.on_finished: Optional[Callable[[], None]] = None
        s = worker.signals
        s.progress.connect(self._progress)
        s.yielded.connect(self._yielded)
        s.result.connect(self._result)
        s.error.connect(self._error)
        s.cancelled.connect(self._cancelled)
        s.finished.connect(self._finished)

    def cancel(self) -> None:
        self.worker.cancel()

    def _progress(self, done: int, total: int, msg: str) -> None:
        self.progress.emit(done, total, msg)

    def _yielded(self, item: Any) -> None:
        if self.on_yield and not self.worker.is_cancelled():
            self.on_yield(item)

    def _result(self, value: Any) -> None:
        if self.on_result:
            self.on_result(value)

    def _error(self, message: str, details: str) -> None:
        if self.on_error:
            self.on_error(message, details)
        else:
            from .widgets.error_dialog import show_error
            owner = self.parent()
            show_error(owner if hasattr(owner, "window") else None, message, details)

    def _cancelled(self) -> None:
        if self.on_cancelled:
            self.on_cancelled()

    def _finished(self) -> None:
        self.running = False
        with _lock:
            _active.discard(self)
        QTimer.singleShot(REAP_AFTER_MS, _reap_workers)
        self.finished.emit()  # panels first, so callbacks see them idle
        if self.on_finished:
            self.on_finished()


REAP_AFTER_MS = 1000


def _reap_workers() -> None:
    """GUI thread: forget workers whose run() returned a while ago (the pool is done with them)."""
    now = time.monotonic()
    with _lock:
        done = {w for w in _workers if w.done_at is not None and now - w.done_at >= REAP_AFTER_MS / 1000}
        _workers.difference_update(done)
        waiting = any(w.done_at is not None for w in _workers)
    if waiting:  # finished, but too recently: look again later
        QTimer.singleShot(REAP_AFTER_MS, _reap_workers)


def run_task(owner: QObject, fn: Callable[..., Any], *args: Any, hooks: bool = True,
             on_result: Optional[Callable[[Any], None]] = None,
             on_yield: Optional[Callable[[Any], None]] = None,
             on_error: Optional[Callable[[str, str], None]] = None,
             on_cancelled: Optional[Callable[[], None]] = None,
             on_finished: Optional[Callable[[], None]] = None, **kwargs: Any) -> Task:
    """Start `fn` on the pool; `hooks=False` for functions without progress/cancel arguments."""
    worker = Worker(fn, *args, hooks=hooks, **kwargs)
    task = Task(owner, worker)
    task.on_result, task.on_yield, task.on_error = on_result, on_yield, on_error
    task.on_cancelled, task.on_finished = on_cancelled, on_finished
    with _lock:
        _active.add(task)
        _workers.add(worker)
    pool().start(worker)
    return task


def cancel_all(wait_ms: int = 5000) -> bool:
    """Ask every running task to stop and wait for the pool; True when all ended in time."""
    with _lock:
        tasks = list(_active)
    for t in tasks:
        t.cancel()
    return pool().waitForDone(wait_ms) if _pool is not None else True
