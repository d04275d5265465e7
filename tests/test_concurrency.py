"""Two crmbook runs on one workbook never interleave; a workbook saved by someone else mid-run is not overwritten."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crmbook.errors import WorkbookChangedError
from tests.conftest import TODAY

RUN = (
    "import sys, datetime as dt\n"
    "from crmbook.refresh import refresh\n"
    "refresh(sys.argv[1], today=dt.date(2026, 11, 22), now=dt.datetime(2026, 11, 22, int(sys.argv[2])), lock_timeout=120)\n"
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_refreshes_at_once_run_one_after_the_other(sample_master: Path, tmp_path: Path) -> None:
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(sample_master, book)
    original = _digest(book)
    procs = [
        subprocess.Popen([sys.executable, "-c", RUN, str(book), hour], stderr=subprocess.PIPE)
        for hour in ("9", "10")
    ]
    errors = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    backups = sorted((tmp_path / ".crmbook-backups").glob("crm.*.xlsx"))
    assert len(backups) == 2
    # The first run backed up the original; the second backed up the first run's result, not the
    # original: it read the workbook only after the first run had saved it. Nothing was lost.
    digests = [_digest(b) for b in backups]
    assert digests[0] == original
    assert digests[1] != original
    assert not list(tmp_path.glob(".~crmbook-*")), "a temporary or lock file was left behind"


@pytest.mark.broken_workbooks  # writes a workbook broken on purpose
def test_workbook_saved_by_a_colleague_mid_refresh_is_not_overwritten(
    sample_master: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crmbook.refresh  # noqa: F401  (the module, for monkeypatch)

    module = sys.modules["crmbook.refresh"]
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(sample_master, book)
    colleague = b"PK" + b"their version" * 100
    real_plan = module.plan_refresh

    def plan_while_a_colleague_saves(*args, **kwargs):  # type: ignore[no-untyped-def]
        plan = real_plan(*args, **kwargs)
        book.write_bytes(colleague)  # Excel on another machine saved the shared file just now
        return plan

    monkeypatch.setattr(module, "plan_refresh", plan_while_a_colleague_saves)
    with pytest.raises(WorkbookChangedError, match="changed on disk"):
        module.refresh(book, today=TODAY, now=dt.datetime(2026, 11, 22, 9))
    assert book.read_bytes() == colleague
    assert not list(tmp_path.glob(".~crmbook-*"))


IMPORT = (
    "import sys, datetime as dt\n"
    "from crmbook.importer import import_file\n"
    "import_file(sys.argv[2], sys.argv[1], today=dt.date(2026, 11, 22), lock_timeout=120)\n"
)


def test_a_refresh_and_an_import_at_once_lose_nothing(sample_master: Path, tmp_path: Path) -> None:
    from crmbook.reader import read_book
    from tests.legacy_corpus import make_corpus

    corpus = make_corpus(tmp_path / "legacy")
    book = tmp_path / "crm.xlsx"
    shutil.copyfile(sample_master, book)
    customers_before = len(read_book(book)[0].tables["customers"].data)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", IMPORT, str(book), str(corpus.ledger)], stderr=subprocess.PIPE
        ),
        subprocess.Popen([sys.executable, "-c", RUN, str(book), "11"], stderr=subprocess.PIPE),
    ]
    errors = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    after, _ = read_book(book)
    # Whichever ran second read the first one's result: the imported customers are all there.
    assert len(after.tables["customers"].data) == customers_before + corpus.customers
    assert len(sorted((tmp_path / ".crmbook-backups").glob("crm.*.xlsx"))) == 2
    assert not list(tmp_path.glob(".~crmbook-*")), "a temporary or lock file was left behind"
