"""Running one pure step beside another, on a second core, where the system allows it.

A refresh is pure Python work on one core; the machine usually has two. On Linux
:func:`beside` forks a child process that computes one step while the parent goes
on with the others: the child sees the parent's data without copying it (fork
shares memory pages), and sends back only its result, pickled through a pipe.

Nothing depends on the child: it runs a pure function, and when it cannot start,
fails, or dies, the parent computes the same function itself. Elsewhere (Windows,
where Excel runs the Refresh button, and macOS, where forking a process that has
loaded system frameworks is unsafe) and with ``CRMBOOK_WORKERS=1`` the step simply
runs in the parent, at once, before the parent goes on.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["Beside", "beside", "forking_allowed"]

T = TypeVar("T")


def forking_allowed() -> bool:
    """Whether :func:`beside` uses a child process here."""
    if os.environ.get("CRMBOOK_WORKERS", "").strip() == "1":
        return False
    return sys.platform == "linux" and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


class Beside(Generic[T]):
    """A step started with :func:`beside`; :meth:`result` waits for it.

    Use it as a context manager: leaving the block without asking for the result (an
    error in the parent's own steps) stops the child instead of leaving it behind.
    """

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._pid = 0
        self._fd = -1
        self._done: tuple[T] | None = None
        if forking_allowed():
            self._start()
        if not self._pid:  # computed now, on the data as the caller has it at this point
            self._done = (fn(*args),)

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            with warnings.catch_warnings():  # the child runs only this pure step, never other threads' work
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:  # no memory or process slot for a child: the parent computes it at once
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # the child
            os.close(read_fd)
            code = 0
            try:
                payload = pickle.dumps(self._fn(*self._args), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(payload)
            except BaseException:  # any failure: the parent sees no result and computes it itself
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    def __enter__(self) -> Beside[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = 0

    def result(self) -> T:
        if self._done is not None:
            return self._done[0]
        if self._pid:
            payload = self._collect()
            if payload is not None:
                try:
                    return pickle.loads(payload)
                except Exception:  # a result that does not unpickle: compute it here instead
                    pass
        return self._fn(*self._args)

    def _collect(self) -> bytes | None:
        chunks = []
        fd, self._fd = self._fd, -1  # the pipe object below owns and closes it
        try:
            pipe = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        with pipe:
            while chunk := pipe.read(1 << 20):
                chunks.append(chunk)
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        return b"".join(chunks) if ok and chunks else None


def beside(fn: Callable[..., T], *args: Any) -> Beside[T]:
    """Start ``fn(*args)`` on another core; ``.result()`` gives what it returned.

    ``fn`` must be pure: it may read what the parent holds but its only effect is its
    result, because it may run in a child process whose changes to memory are lost.
    Without a child it runs at once; when a child fails it runs when the result is asked
    for, so it must not read what the parent changes in between.
    """
    return Beside(fn, args)
