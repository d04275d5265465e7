"""Running one pure step beside another, on a second core, where the system allows it.

A refresh is pure Python work on one core; the machine usually has two. On Linux
:func:`beside` forks a child process that computes one step while the parent goes
on with the others: the child sees the parent's data without copying it (fork
shares memory pages), and sends back only its result, pickled through a pipe.
:func:`beside_each` does the same for steps with several results, each sent as soon
as it is there.

Each result travels through an anonymous in-memory file (``memfd``) the child writes and the parent
reads; the pipe only carries where each one lies, so the child never waits for the parent to take a
result before going on with the next step (a pipe holds 64 KiB: a result of several megabytes would
keep the child waiting until the parent asks for it).

A process with threads of its own at work must not start a child: a lock such a thread holds at that
moment (an import, a library loading its data) stays held in the child, which waits for it forever.
Callers start one only while their other threads are idle or done.

Nothing depends on the child: it runs a pure function, and when it cannot start,
fails, or dies, the parent computes the same function itself. Elsewhere (Windows,
where Excel runs the Refresh button, and macOS, where forking a process that has
loaded system frameworks is unsafe) and with ``CRMBOOK_WORKERS=1`` the step simply
runs in the parent, at once, before the parent goes on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import struct
import sys
import warnings
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, BinaryIO, Generic, TypeVar

__all__ = ["Beside", "beside", "beside_each", "forking_allowed", "in_place"]

T = TypeVar("T")
_FRAME = struct.Struct("<QQ")  # where each pickled result the child wrote lies: offset and size


_in_place = 0  # how many in_place() blocks this process is in


def forking_allowed() -> bool:
    """Whether :func:`beside` uses a child process here."""
    if _in_place or os.environ.get("CRMBOOK_WORKERS", "").strip() == "1":
        return False
    return sys.platform == "linux" and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


@contextlib.contextmanager
def in_place() -> Iterator[None]:
    """Within the block, steps started with :func:`beside` run in this process: for work that is
    already spread over the cores (a child of its own per step would only compete with it)."""
    global _in_place
    _in_place += 1
    try:
        yield
    finally:
        _in_place -= 1


class Beside(Generic[T]):
    """Steps started with :func:`beside`; :meth:`next` waits for the next result (:meth:`result` for
    a step with one).

    Use it as a context manager: leaving the block without asking for every result (an error in
    the parent's own steps, or results it did not need) stops the child instead of leaving it behind.
    """

    def __init__(self, steps: Callable[..., Iterator[T]], args: tuple[Any, ...]) -> None:
        self._steps = steps
        self._args = args
        self._pid = 0
        self._fd = -1
        self._results = -1  # the file the child writes its results to
        self._pipe: BinaryIO | None = None
        self._taken = 0  # results handed out so far
        self._own: Iterator[T] | None = None  # the parent's own run of the steps, once it needs one
        self._done: list[T] | None = None
        if forking_allowed():
            self._start()
        if not self._pid:  # computed now, on the data as the caller has it at this point
            self._done = list(steps(*args))

    def _start(self) -> None:
        try:
            results = os.memfd_create("crmbook-beside", os.MFD_CLOEXEC)
        except (AttributeError, OSError):  # no in-memory files here: the parent computes it at once
            return
        read_fd, write_fd = os.pipe()
        try:
            with warnings.catch_warnings():  # the child runs only these pure steps, never other threads' work
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:  # no memory or process slot for a child: the parent computes it at once
            for fd in (read_fd, write_fd, results):
                os.close(fd)
            return
        if pid == 0:  # the child
            os.close(read_fd)
            code = 0
            try:
                with os.fdopen(write_fd, "wb") as out:
                    offset = 0
                    for result in self._steps(*self._args):  # each result sent as soon as it is there
                        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
                        with memoryview(payload) as rest:
                            while rest:  # written whole before the parent hears of it
                                written = os.pwrite(results, rest, offset)
                                offset, rest = offset + written, rest[written:]
                        out.write(_FRAME.pack(offset - len(payload), len(payload)))
                        out.flush()
            except BaseException:  # any failure: the parent sees no more results and computes them itself
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        self._pid, self._fd, self._results = pid, read_fd, results

    def __enter__(self) -> Beside[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        elif self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        if self._results >= 0:
            os.close(self._results)
            self._results = -1
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = 0

    def next(self) -> T:
        """The steps' next result: from the child when it sent it, else computed here."""
        if self._done is not None:
            return self._done.pop(0)
        if self._pid:
            received = self._receive()
            if received is not None:
                self._taken += 1
                return received[0]
            self._stop()  # the child failed or died: the parent takes over
        if self._own is None:  # a fresh run of the steps, past the results already handed out
            self._own = self._steps(*self._args)
            for _ in range(self._taken):
                next(self._own)
        self._taken += 1
        return next(self._own)

    def result(self) -> T:
        """The result of a step with one (see :func:`beside`)."""
        return self.next()

    def _receive(self) -> tuple[T] | None:
        """The next result the child sent; None when it sent no more (it failed or died)."""
        if self._pipe is None:
            try:
                self._pipe = os.fdopen(self._fd, "rb")
            except BaseException:
                os.close(self._fd)
                self._fd = -1
                raise
        header = self._pipe.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return None
        offset, size = _FRAME.unpack(header)
        payload = _read_at(self._results, offset, size)
        if len(payload) < size:
            return None
        try:
            return (pickle.loads(payload),)
        except Exception:  # a result that does not unpickle: computed here instead
            return None


def _read_at(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes of file ``fd`` from ``offset`` (fewer when it ends before)."""
    parts = []
    while size > 0:
        part = os.pread(fd, size, offset)
        if not part:
            break
        parts.append(part)
        offset, size = offset + len(part), size - len(part)
    return b"".join(parts)


def _one(fn: Callable[..., T], *args: Any) -> Iterator[T]:
    yield fn(*args)


def beside(fn: Callable[..., T], *args: Any) -> Beside[T]:
    """Start ``fn(*args)`` on another core; ``.result()`` gives what it returned.

    ``fn`` must be pure: it may read what the parent holds but its only effect is its
    result, because it may run in a child process whose changes to memory are lost.
    Without a child it runs at once; when a child fails it runs when the result is asked
    for, so it must not read what the parent changes in between.
    """
    return Beside(functools.partial(_one, fn), args)


def beside_each(steps: Callable[..., Iterator[T]], *args: Any) -> Beside[T]:
    """Start the steps of generator ``steps(*args)`` on another core; ``.next()`` gives each result
    as soon as it is there, so the parent can use the first ones while the child works on the next.

    ``steps`` must be pure, as for :func:`beside`. When the child fails, the parent runs ``steps``
    afresh and skips the results it already has.
    """
    return Beside(steps, args)
