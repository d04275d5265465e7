"""The one place crmbook replaces a workbook on disk.

Every save: refuses when the workbook is open in Excel or LibreOffice (their
lock files), refuses when the file changed since crmbook read it, checks the
package it is about to write (:func:`self_check`: every part crmbook changed is
well-formed with every prefix bound, every relationship target exists, every
part has a content type) and refuses a faulty one, writes a
temporary file in the same folder and fsyncs it, keeps a timestamped backup
of the previous version, and swaps the new version in with one atomic
``os.replace``. :func:`run_lock` makes sure two crmbook runs never write the
same workbook at once; a lock left by a killed run is taken over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crmbook.errors import FaultyOutputError, WorkbookChangedError, WorkbookFileError, WorkbookLockedError

__all__ = [
    "Fingerprint",
    "SaveResult",
    "cleanup_stale_temp_files",
    "ensure_unchanged",
    "excel_lock_file",
    "run_lock",
    "save_workbook_bytes",
    "self_check",
    "write_new_file",
]

TEMP_PREFIX = ".~crmbook-"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 60.0
STALE_LOCK_SECONDS = 600.0
REPORT_AT = "the crmbook issue tracker (README.md, “Reporting a problem”)"
_PACKAGE_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")


@dataclass(frozen=True)
class Fingerprint:
    """Size, modification time and content hash of a file, to notice changes."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> Fingerprint:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return cls(st.st_size, st.st_mtime_ns, digest.hexdigest())

    @classmethod
    def of_bytes(cls, path: str | os.PathLike[str], data: bytes) -> Fingerprint:
        """The fingerprint of ``path`` just written with ``data`` (hashed in memory, not read back)."""
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest())

    def same_content(self, other: Fingerprint) -> bool:
        return self.size == other.size and self.sha256 == other.sha256


@dataclass(frozen=True)
class SaveResult:
    path: Path
    backup_path: Path | None
    bytes_written: int
    fingerprint_after: Fingerprint


def excel_lock_file(path: str | os.PathLike[str]) -> Path | None:
    """Excel's (``~$name``, or ``~$`` + name[2:] for long names) or LibreOffice's lock file, if present."""
    p = Path(path)
    candidates = [p.with_name("~$" + p.name), p.with_name(".~lock." + p.name + "#")]
    if len(p.name) > 2:
        candidates.append(p.with_name("~$" + p.name[2:]))
    return next((c for c in candidates if c.exists()), None)


# ------------------------------------------------------------------ run lock


def _lock_path(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{path.name}.lock")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _lock_is_stale(lock: Path) -> bool:
    try:
        info = json.loads(lock.read_text("utf-8"))
        age = time.time() - float(info.get("time", 0))
    except (OSError, ValueError):
        # Unreadable: a writer may be between create and write; judge by age.
        try:
            return time.time() - lock.stat().st_mtime > 5
        except OSError:
            return False
    if age > STALE_LOCK_SECONDS:
        return True
    same_host = info.get("host") == socket.gethostname()
    return same_host and not _pid_alive(int(info.get("pid", 0)))


def _lock_holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text("utf-8"))
        since = dt.datetime.fromtimestamp(float(info["time"])).strftime("%H:%M:%S")
        return f"pid {info['pid']} on {info['host']}, since {since}"
    except (OSError, ValueError, KeyError):
        return "unknown process"


def _create_lock(lock: Path, payload: bytes) -> None:
    """Create ``lock`` holding ``payload`` in one step, or raise FileExistsError.

    The payload goes into a temporary file first, which is then hard-linked to
    the lock name: a run killed at any moment leaves either no lock or a
    complete one, never an empty lock nobody can judge. File systems without
    hard links fall back to exclusive create + write.
    """
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{lock.name}.", suffix=TEMP_SUFFIX, dir=lock.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        try:
            os.link(tmp, lock)
            return
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links here (some network and FAT drives)
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, payload)
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def run_lock(path: str | os.PathLike[str], *, timeout: float = 10.0, poll: float = 0.1) -> Iterator[Path]:
    """Hold the crmbook run lock of ``path``; wait up to ``timeout`` s for another run to finish."""
    target = Path(path)
    lock = _lock_path(target)
    deadline = time.monotonic() + timeout
    payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}).encode()
    while True:
        try:
            _create_lock(lock, payload)
        except FileExistsError:
            if _lock_is_stale(lock):
                # Rename-then-remove: of two waiters, only one wins the rename.
                grave = lock.with_name(f"{lock.name}.stale-{os.getpid()}")
                with contextlib.suppress(OSError):
                    os.replace(lock, grave)
                    grave.unlink()
                continue
            if time.monotonic() >= deadline:
                raise WorkbookLockedError(
                    target,
                    f"the workbook is being updated by another crmbook run ({_lock_holder(lock)}); "
                    "try again in a moment",
                ) from None
            time.sleep(poll)
            continue
        except OSError as exc:
            raise WorkbookFileError(
                target, f"cannot create the lock file {lock.name} ({exc.strerror})"
            ) from exc
        break
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


# ------------------------------------------------------------------ saving


def cleanup_stale_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files a killed crmbook run left beside ``path`` (older than a minute)."""
    p = Path(path)
    removed = []
    now = time.time()
    for candidate in p.parent.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        try:
            if now - candidate.stat().st_mtime > STALE_TEMP_SECONDS:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue
    return removed


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(folder: Path, name: str, data: bytes) -> Path:
    writing = _TempFile(folder, name, data)
    writing.write()
    return writing.done()


def _mode_for(target: Path) -> int:
    """The permissions a file written at ``target`` gets: those of the file it replaces (a workbook in a
    shared folder stays readable by the colleagues who could read it), else those of any new file
    (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux says it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, and put back at once
    os.umask(mask)
    return mask


class _TempFile:
    """A new version of a workbook written to a temporary file in its folder and fsynced, on the
    caller's thread (:meth:`write`) or on one of its own while the caller checks the package
    (:meth:`start`). That thread only makes system calls (``os.write``, ``os.fsync``), holding no
    Python lock, so the package check may start a second process meanwhile (crmbook.parallel)."""

    def __init__(self, folder: Path, name: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}.", suffix=TEMP_SUFFIX, dir=folder)
        self.path = Path(tmp)
        try:  # mkstemp makes a file only its owner may read: give it the permissions it is due
            os.chmod(self.path, _mode_for(folder / name))
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        self._fd = fd
        self._data = data
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> _TempFile:
        self._thread = threading.Thread(target=self.write, name="crmbook-save", daemon=True)
        self._thread.start()
        return self

    def write(self) -> None:
        try:
            view = memoryview(self._data)
            while view:
                view = view[os.write(self._fd, view[: 1 << 24]) :]
            os.fsync(self._fd)
        except BaseException as exc:  # given to the caller by done()
            self._error = exc
        finally:
            os.close(self._fd)

    def done(self) -> Path:
        """The written file's path, once written; raises what writing it raised (and removes it)."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            self.discard()
            raise self._error
        return self.path

    def discard(self) -> None:
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _backup(path: Path, backup_dir: str | os.PathLike[str], keep: int) -> Path:
    folder = Path(backup_dir)
    if not folder.is_absolute():
        folder = path.parent / folder
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    backup = folder / f"{path.stem}.{stamp}{path.suffix}"
    partial = folder / f"{TEMP_PREFIX}{backup.name}{TEMP_SUFFIX}"
    shutil.copy2(path, partial)
    os.replace(partial, backup)
    mine = sorted(folder.glob(f"{path.stem}.????????-??????-??????{path.suffix}"))
    for old in mine[: max(0, len(mine) - keep)]:
        with contextlib.suppress(OSError):
            old.unlink()
    return backup


def self_check(path: str | os.PathLike[str], data: bytes, *, replaces: bool = True) -> None:
    """Raise :class:`FaultyOutputError` when the workbook package ``data``, about to replace
    (``replaces``: a new version of the same workbook) or create ``path``, has a part crmbook broke:
    see :mod:`crmbook.ooxml.selfcheck`. Other files pass."""
    target = Path(path)
    if target.suffix.lower() not in _PACKAGE_SUFFIXES or not data.startswith(b"PK"):
        return
    from crmbook.ooxml.selfcheck import check_package

    previous = str(target) if replaces and target.is_file() else None
    faults = check_package(data, previous, getattr(data, "spliced", None))
    if faults:
        listed = "; ".join(str(f) for f in faults[:5]) + (
            f"; and {len(faults) - 5} more" if len(faults) > 5 else ""
        )
        raise FaultyOutputError(
            target,
            f"crmbook stopped before saving: the workbook it built is faulty ({listed}). "
            f"The file on disk was not changed. This is a bug in crmbook: please report it at {REPORT_AT}, "
            "with this message and the command you ran.",
        )


def ensure_unchanged(path: str | os.PathLike[str], expected: Fingerprint) -> None:
    """Raise :class:`WorkbookChangedError` when ``path`` no longer has the content crmbook read."""
    if not Fingerprint.of(path).same_content(expected):
        raise WorkbookChangedError(
            path,
            "changed on disk since crmbook read it (someone saved it?). Nothing was written; "
            "run again to work on the new version.",
        )


def save_workbook_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    expected: Fingerprint | None,
    backup_dir: str | os.PathLike[str] | None = ".crmbook-backups",
    keep: int = 10,
) -> SaveResult:
    """Replace the workbook at ``path`` with ``data`` safely (see the module docstring)."""
    target = Path(path)
    lock = excel_lock_file(target)
    if lock is not None:
        raise WorkbookLockedError(
            target, f"is open in Excel or LibreOffice (lock file {lock.name}). Close it and run again."
        )

    def check_unchanged() -> None:
        if expected is not None and target.exists():
            ensure_unchanged(target, expected)

    check_unchanged()
    cleanup_stale_temp_files(target)
    # The new version goes to disk while it is checked (the check works, the writing mostly waits for
    # the disk); it replaces the workbook only once both are done.
    writing = _TempFile(target.parent, target.name, data).start()
    try:
        self_check(target, data)
        tmp = writing.done()
    except BaseException:
        writing.discard()
        raise
    try:
        backup = _backup(target, backup_dir, keep) if (backup_dir is not None and target.exists()) else None
        check_unchanged()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)
    return SaveResult(target, backup, len(data), Fingerprint.of_bytes(target, data))


def write_new_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False, checked: bool = False
) -> Path:
    """Write a file crmbook creates (a report, a new workbook) atomically. ``checked``: the caller
    ran :func:`self_check` on the workbook already (before encrypting it, say)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise WorkbookFileError(target, "already exists; choose another name or delete it first")
    if excel_lock_file(target) is not None:
        raise WorkbookLockedError(target, "is open in Excel or LibreOffice. Close it and run again.")
    if not checked:
        self_check(target, data, replaces=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(target.parent, target.name, data)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target
