"""The macro-enabled workbook: VBA project built from macros/, buttons bound to its macros, nothing lost.

Checked with parts crmbook did not write: oletools (olefile + olevba) reads the compound file and
decompresses every module; LibreOffice opens the .xlsm and reports which macro each button runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmbook.buttons import CONF_SHEET, install_buttons, macro_modules, vba_project
from crmbook.vba import Module, build_vba_project, compress, decompress
from tests.conftest import soffice_convert

olevba = pytest.importorskip("oletools.olevba")
MACROS = Path(__file__).resolve().parents[1] / "macros"
TODAY = "2026-11-22"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=9000) | st.text(alphabet="Sub End ()\r\n'xyz=\"1", max_size=12000).map(str.encode))
def test_compression_round_trips_and_oletools_agrees(data: bytes) -> None:
    packed = compress(data)
    assert decompress(packed) == data
    assert olevba.decompress_stream(bytearray(packed)) == data


def test_text_compresses() -> None:
    source = (MACROS / "xlwings.bas").read_bytes()
    assert len(compress(source)) < len(source) / 2


def _modules(data: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "vbaProject.bin"
    path.write_bytes(data)
    parser = olevba.VBA_Parser(str(path))
    try:
        return {stream.split("/")[-1]: code for _, stream, _, code in parser.extract_macros()}
    finally:
        parser.close()


def test_project_modules_decompress_to_the_bas_files(tmp_path: Path) -> None:
    found = _modules(vba_project(["Sheet1", "Sheet2"]), tmp_path)
    assert set(found) == {"ThisWorkbook", "Sheet1", "Sheet2", "crmbook", "xlwings", "Dictionary"}
    for name, suffix in (("crmbook", "bas"), ("xlwings", "bas"), ("Dictionary", "cls")):
        source = (MACROS / f"{name}.{suffix}").read_bytes().decode("cp1252")
        assert found[name].replace("\r\n", "\n") == source.replace("\r\n", "\n")
    assert 'Attribute VB_Name = "ThisWorkbook"' in found["ThisWorkbook"]


def test_crmbook_reads_back_its_project_and_one_excel_compiled() -> None:
    """read_modules (used by doctor) on our project and on the project Excel saved in xlwings' quickstart."""
    import zipfile as zf

    import xlwings

    from crmbook.vba import read_modules

    ours = read_modules(vba_project(["Sheet1"]))
    assert ours["crmbook"] == (MACROS / "crmbook.bas").read_bytes().decode("cp1252")
    quickstart = Path(xlwings.__file__).parent / "quickstart_standalone.xlsm"
    theirs = read_modules(zf.ZipFile(quickstart).read("xl/vbaProject.bin"))
    assert {"xlwings", "Dictionary", "ThisWorkbook"} <= set(theirs)
    assert "Public Function RunPython" in theirs["xlwings"]


def test_the_same_sources_give_the_same_bytes() -> None:
    assert vba_project(["Sheet1"]) == vba_project(["Sheet1"])


def test_module_names_are_checked() -> None:
    with pytest.raises(ValueError, match="two VBA modules"):
        build_vba_project([Module("a", ""), Module("A", "")])
    with pytest.raises(ValueError, match="ASCII"):
        build_vba_project([Module("客户", "")])


def _macros_in(module_text: str) -> set[str]:
    return set(re.findall(r"^Public Sub (\w+)\(\)", module_text, re.MULTILINE))


@pytest.fixture(scope="module")
def xlsm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import datetime as dt

    from crmbook.template import create_workbook

    folder = tmp_path_factory.mktemp("xlsm")
    source = create_workbook(folder / "crm.xlsx", sample=40, seed=9, today=dt.date(2026, 11, 22))
    return install_buttons(source, today=dt.date(2026, 11, 22)).path


def test_install_makes_a_macro_enabled_workbook(xlsm: Path, tmp_path: Path) -> None:
    assert xlsm.suffix == ".xlsm" and xlsm.with_suffix(".xlsx").exists()  # the .xlsx is left as it was
    with zipfile.ZipFile(xlsm) as z:
        types = z.read("[Content_Types].xml").decode()
        assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types
        assert "vbaProject" in z.read("xl/_rels/workbook.xml.rels").decode()
        workbook = z.read("xl/workbook.xml").decode()
        assert 'codeName="ThisWorkbook"' in workbook
        sheet_parts = [n for n in z.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n)]
        code_names = [re.search(r'codeName="([^"]+)"', z.read(n).decode())[1] for n in sheet_parts]  # type: ignore[index]
        project = z.read("xl/vbaProject.bin")
        vml = [n for n in z.namelist() if n.startswith("xl/drawings/vmlDrawing")]
        buttons = "".join(z.read(n).decode() for n in vml)
    assert len(set(code_names)) == len(code_names) == len(sheet_parts)
    modules = _modules(project, tmp_path)
    assert set(code_names) | {"ThisWorkbook", "crmbook", "xlwings", "Dictionary"} == set(modules)
    # Every button runs a public macro of the crmbook module, which calls the library, not the file.
    bound = re.findall(r"<x:FmlaMacro>\[0\]!(\w+)</x:FmlaMacro>", buttons)
    assert bound == ["CrmbookRefresh", "CrmbookFindDuplicates", "CrmbookMonthlyReport"]
    assert set(bound) <= _macros_in(modules["crmbook"])
    assert "crmbook.xl.refresh()" in modules["crmbook"]
    assert {"刷新", "查重", "生成月报"} <= set(re.findall(r">([^<>]+)</font>", buttons))


def test_conf_sheet_holds_what_xlwings_reads(xlsm: Path) -> None:
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_path(str(xlsm))
    rows = wb.get_sheet_by_name(CONF_SHEET).to_python()
    keys = {str(r[0]).upper(): r[1] for r in rows if r and r[0]}
    assert {"INTERPRETER_WIN", "INTERPRETER_MAC", "PYTHONPATH", "ADD_WORKBOOK_TO_PYTHONPATH"} <= set(keys)
    assert "%LOCALAPPDATA%" in str(keys["INTERPRETER_WIN"]) or keys["INTERPRETER_WIN"].endswith("python.exe")


def test_buttons_and_macros_survive_a_refresh_and_records_survive_the_install(
    xlsm: Path, tmp_path: Path
) -> None:
    import datetime as dt
    import shutil

    import python_calamine as pc

    from crmbook.refresh import refresh

    copy = tmp_path / "again.xlsm"
    shutil.copyfile(xlsm, copy)
    refresh(copy, today=dt.date(2026, 11, 23))
    with zipfile.ZipFile(xlsm) as a, zipfile.ZipFile(copy) as b:
        assert a.read("xl/vbaProject.bin") == b.read("xl/vbaProject.bin")
        # every sheet keeps the code name of its module in the VBA project, the rebuilt dashboard too
        sheets = [n for n in a.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n)]
        code_names = [
            re.findall(rb'<sheetPr[^>]*codeName="([^"]+)"', z.read(n)) for z in (a, b) for n in sheets
        ]
        assert code_names[: len(sheets)] == code_names[len(sheets) :] and all(code_names)
        assert any(
            "vmlDrawing" in b.read(n).decode()
            for n in b.namelist()
            if n.endswith(".rels") and "worksheets" in n
        )
    source = pc.CalamineWorkbook.from_path(str(xlsm.with_suffix(".xlsx")))
    installed = pc.CalamineWorkbook.from_path(str(xlsm))
    for name in ("列表", "设置"):
        assert source.get_sheet_by_name(name).to_python() == installed.get_sheet_by_name(name).to_python()
    for name in ("客户", "联系人", "跟进记录", "销售机会"):  # refresh only fills what was empty
        before = source.get_sheet_by_name(name).to_python()
        after = installed.get_sheet_by_name(name).to_python()
        for r, row in enumerate(before):
            for c, value in enumerate(row):
                if (
                    value != ""
                    and c < len(before[0])
                    and before[0][c]
                    not in (
                        "最后更新日期",
                        "最近跟进",
                        "下次应跟进",
                        "跟进次数",
                        "在谈金额",
                        "成交金额",
                        "阶段更新时间",
                    )
                ):
                    assert after[r][c] == value, (name, r + 1, c + 1)


@pytest.mark.libreoffice
def test_libreoffice_binds_each_button_to_its_macro(xlsm: Path, tmp_path: Path) -> None:
    ods = soffice_convert(xlsm, "ods", tmp_path)
    with zipfile.ZipFile(ods) as z:
        content = z.read("content.xml").decode()
        basic = z.read("Basic/VBAProject/crmbook.xml").decode()
    buttons = re.findall(r'<form:button [^>]*form:label="([^"]+)".*?</form:button>', content, re.DOTALL)
    assert buttons == ["刷新", "查重", "生成月报"]
    for macro in ("CrmbookRefresh", "CrmbookFindDuplicates", "CrmbookMonthlyReport"):
        assert f"vnd.sun.star.script:VBAProject.crmbook.{macro}?language=Basic" in content
        assert f"Public Sub {macro}()" in basic  # LibreOffice read the module's source from our project


def test_cli_new_xlsm_and_install_buttons(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crmbook", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    made = run("new", "demo.xlsm", "--sample", "20", "--today", TODAY)
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(tmp_path / "demo.xlsm") as z:
        assert "xl/vbaProject.bin" in z.namelist()
    assert run("new", "plain.xlsx").returncode == 0
    done = run("install-buttons", "plain.xlsx", "--interpreter", r"C:\Python311\python.exe")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain.xlsm").exists()
    again = run("install-buttons", "plain.xlsx")
    assert again.returncode == 2 and "already exists" in again.stderr
    wrong = run("install-buttons", "plain.xlsx", "-o", "x.xlsx")
    assert wrong.returncode == 2 and ".xlsm" in wrong.stderr


def test_macro_sources_are_ascii_and_named() -> None:
    for module in macro_modules():
        assert module.source.isascii()
        assert module.source.startswith(f'Attribute VB_Name = "{module.name}"')


def test_doctor_reports_what_the_buttons_need(xlsm: Path) -> None:
    def doctor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crmbook", "doctor", *args], capture_output=True, text=True, check=False
        )

    ready = doctor(str(xlsm))
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "CrmbookRefresh" in ready.stdout and "imports crmbook.xl" in ready.stdout
    plain = doctor(str(xlsm.with_suffix(".xlsx")))
    assert plain.returncode == 1 and "install-buttons" in plain.stdout
    missing = doctor("--interpreter", "/nowhere/python")
    assert missing.returncode == 1 and "does not exist" in missing.stdout
