"""Safe saves, run locks and file sniffing: the workbook is either as it was or as it should be."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crmbook.errors import WorkbookChangedError, WorkbookFileError, WorkbookLockedError
from crmbook.filetype import require_workbook, sniff
from crmbook.safe_save import (
    Fingerprint,
    cleanup_stale_temp_files,
    run_lock,
    save_workbook_bytes,
    write_new_file,
)

FIXTURE_XLS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "superstore.xls"


def _book(tmp_path: Path, content: bytes = b"old") -> Path:
    path = tmp_path / "crm.xlsx"
    path.write_bytes(content)
    return path


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_replace_keeps_a_backup_and_leaves_no_temp(tmp_path: Path) -> None:
    path = _book(tmp_path)
    result = save_workbook_bytes(path, b"new", expected=Fingerprint.of(path))
    assert path.read_bytes() == b"new"
    assert result.backup_path is not None and result.backup_path.read_bytes() == b"old"
    assert not list(tmp_path.glob(".~crmbook-*"))
    assert result.fingerprint_after == Fingerprint.of(path)  # what a later save expects to find


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_backups_pruned_to_keep(tmp_path: Path) -> None:
    path = _book(tmp_path)
    for i in range(5):
        save_workbook_bytes(path, f"v{i}".encode(), expected=None, keep=3)
    backups = sorted((tmp_path / ".crmbook-backups").iterdir())
    assert len(backups) == 3
    assert backups[-1].read_bytes() == b"v3"
    save_workbook_bytes(path, b"v9", expected=None, backup_dir=None)
    assert len(list((tmp_path / ".crmbook-backups").iterdir())) == 3


@pytest.mark.parametrize("lock_name", ["~$crm.xlsx", "~$m.xlsx", ".~lock.crm.xlsx#"])
@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_refuses_when_open_in_excel_or_libreoffice(tmp_path: Path, lock_name: str) -> None:
    path = _book(tmp_path)
    (tmp_path / lock_name).write_bytes(b"x")
    with pytest.raises(WorkbookLockedError, match="open in Excel"):
        save_workbook_bytes(path, b"new", expected=None)
    assert path.read_bytes() == b"old"


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_refuses_when_changed_since_read(tmp_path: Path) -> None:
    path = _book(tmp_path)
    seen = Fingerprint.of(path)
    path.write_bytes(b"a colleague saved this")
    with pytest.raises(WorkbookChangedError, match="changed on disk"):
        save_workbook_bytes(path, b"crmbook's version", expected=seen)
    assert path.read_bytes() == b"a colleague saved this"
    assert not list(tmp_path.glob(".~crmbook-*"))


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_failure_during_replace_leaves_the_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _book(tmp_path)

    def broken_replace(src: object, dst: object) -> None:
        if str(dst).endswith("crm.xlsx"):
            raise OSError("disk full")
        os.rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_workbook_bytes(path, b"new", expected=None)
    assert path.read_bytes() == b"old"
    assert not list(tmp_path.glob(".~crmbook-*.tmp"))


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_a_faulty_package_or_a_failed_write_leaves_the_original_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new version is written while it is checked: either failing removes what was written."""
    from crmbook import safe_save
    from crmbook.errors import FaultyOutputError

    path = _book(tmp_path)

    def faulty(target: object, data: bytes, **_: object) -> None:
        time.sleep(0.05)  # the writing thread is at work meanwhile
        raise FaultyOutputError(path, "faulty")

    with monkeypatch.context() as m:
        m.setattr(safe_save, "self_check", faulty)
        with pytest.raises(FaultyOutputError):
            save_workbook_bytes(path, b"new" * 100_000, expected=Fingerprint.of(path))
    assert path.read_bytes() == b"old"
    assert not list(tmp_path.glob(".~crmbook-*"))

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_workbook_bytes(path, b"new", expected=Fingerprint.of(path))
    assert path.read_bytes() == b"old"
    assert not list(tmp_path.glob(".~crmbook-*"))


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_stale_temp_files_removed(tmp_path: Path) -> None:
    path = _book(tmp_path)
    stale = tmp_path / ".~crmbook-crm.xlsx.abc.tmp"
    stale.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert cleanup_stale_temp_files(path) == [stale]


HOLD = """
import sys, time
from crmbook.safe_save import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _finish(proc: subprocess.Popen[str], kill: bool = False) -> None:
    if kill:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_second_run_waits_then_gives_a_clear_message(tmp_path: Path) -> None:
    path = _book(tmp_path)
    proc = _holder(path, 3)
    try:
        with pytest.raises(WorkbookLockedError, match="another crmbook run"), run_lock(path, timeout=0.3):
            pass
    finally:
        _finish(proc)
    with run_lock(path, timeout=1):
        pass


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_second_run_proceeds_when_the_first_finishes_in_time(tmp_path: Path) -> None:
    path = _book(tmp_path)
    proc = _holder(path, 0.3)
    with run_lock(path, timeout=5):
        pass
    _finish(proc)


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    path = _book(tmp_path)
    proc = _holder(path, 30)
    _finish(proc, kill=True)
    assert (tmp_path / ".~crmbook-crm.xlsx.lock").exists()
    with run_lock(path, timeout=1):
        pass


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_write_new_file_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "report.xlsx"
    write_new_file(target, b"one")
    with pytest.raises(WorkbookFileError, match="already exists"):
        write_new_file(target, b"two")
    write_new_file(target, b"two", overwrite=True)
    assert target.read_bytes() == b"two"


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_sniffing_by_content(tmp_path: Path, sample_master: Path) -> None:
    xlsx = tmp_path / "a.xlsx"
    xlsx.write_bytes(sample_master.read_bytes())
    assert sniff(xlsx) == "xlsx"
    renamed = tmp_path / "really-xlsx.xls"
    renamed.write_bytes(sample_master.read_bytes())
    assert sniff(renamed) == "xlsx"
    if FIXTURE_XLS.exists():
        fake = tmp_path / "old.xlsx"
        fake.write_bytes(FIXTURE_XLS.read_bytes())
        assert sniff(fake) == "xls"
        with pytest.raises(WorkbookFileError, match=r"old \.xls workbook"):
            require_workbook(fake)
    csv_utf8 = tmp_path / "a.csv"
    csv_utf8.write_text("客户名称,电话\n甲,13800138000\n", encoding="utf-8")
    csv_gbk = tmp_path / "b.csv"
    csv_gbk.write_bytes("客户名称,电话\n甲,13800138000\n".encode("gb18030"))
    assert sniff(csv_utf8) == sniff(csv_gbk) == "csv"
    png = tmp_path / "photo.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert sniff(png) == "not-workbook"
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    with pytest.raises(WorkbookFileError, match="empty"):
        require_workbook(empty)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_written_workbook_keeps_its_permissions_and_a_new_one_follows_the_umask(tmp_path: Path) -> None:
    """A workbook in a shared folder (group-writable, say) is still open to the group after crmbook
    replaced it; a file crmbook creates gets what any new file gets. A temporary file alone would be
    its owner's only."""
    from click.testing import CliRunner

    from crmbook.cli import cli

    old_mask = os.umask(0o002)
    try:
        book = tmp_path / "crm.xlsx"
        assert CliRunner().invoke(cli, ["new", str(book), "--sample", "20"]).exit_code == 0
        assert stat.S_IMODE(book.stat().st_mode) == 0o664
        book.chmod(0o640)
        assert CliRunner().invoke(cli, ["refresh", str(book)]).exit_code in (0, 1)
        assert stat.S_IMODE(book.stat().st_mode) == 0o640
        report = tmp_path / "report.xlsx"
        assert CliRunner().invoke(cli, ["report", str(book), "-o", str(report)]).exit_code == 0
        assert stat.S_IMODE(report.stat().st_mode) == 0o664
    finally:
        os.umask(old_mask)
