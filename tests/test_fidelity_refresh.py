"""Fidelity through a whole refresh: the user's chart, image, button, macros and comments survive.

The witness is an XlsxWriter .xlsm in the canonical layout (record sheets found by their headers) that
also carries everything crmbook does not model. After `refresh`, every part outside the record sheets,
the workbook manifest and the styles is byte-identical, and the user's objects are still referenced.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import python_calamine as pc
import xlsxwriter

from crmbook.refresh import refresh
from crmbook.schema import load_schema
from tests.test_fidelity import VBA_PLACEHOLDER, png

TODAY = dt.date(2026, 11, 22)


def build(folder: Path) -> Path:
    path = folder / "crm.xlsm"
    (folder / "vbaProject.bin").write_bytes(VBA_PLACEHOLDER)
    (folder / "logo.png").write_bytes(png())
    schema = load_schema()
    wb = xlsxwriter.Workbook(str(path))
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    sheets = {}
    for spec in schema.sheets:
        ws = wb.add_worksheet(spec.zh)
        ws.write_row(0, 0, [c.zh for c in spec.columns] + ["我的备注"])
        sheets[spec.key] = ws
    cust = sheets["customers"]
    cols = {c.key: i for i, c in enumerate(schema.sheet("customers").columns)}
    for r in range(1, 21):
        if r < 15:
            cust.write_string(r, cols["customer_id"], f"C2026{r:06d}")
        cust.write_string(r, cols["name"], f"上海客户{r}科技有限公司")
        cust.write_string(r, cols["phone"], f"1380013{r:04d}")
        cust.write_string(r, cols["level"], "ABC"[r % 3])
        cust.write_string(r, cols["status"], "意向客户")
        cust.write_datetime(r, cols["created"], dt.datetime(2026, 1, 1) + dt.timedelta(days=r), date)
        cust.write_string(r, len(cols), f"备注 {r}")
    cust.write_string(3, cols["email"], "bad@@mail")
    cust.write_comment(f"B{2}", "重点客户，每周跟进")
    cust.set_column(len(cols) + 1, len(cols) + 1, None, None, {"hidden": True})
    cust.merge_range(0, len(cols) + 3, 0, len(cols) + 4, "合并标题")
    cust.conditional_format(
        1, cols["phone"], 20, cols["phone"], {"type": "duplicate", "format": wb.add_format({"bold": True})}
    )
    cust.insert_image(2, len(cols) + 6, str(folder / "logo.png"))
    cust.insert_button(10, len(cols) + 6, {"macro": "refresh_crm", "caption": "刷新"})
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"categories": "='客户'!$B$2:$B$8", "values": "='客户'!$C$2:$C$8"})
    mine = wb.add_worksheet("我的分析")
    mine.insert_chart("B2", chart)
    wb.define_name("客户名单", "='客户'!$B$2:$B$21")
    wb.add_vba_project(str(folder / "vbaProject.bin"))
    wb.close()
    return path


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_refresh_keeps_every_user_part(tmp_path: Path) -> None:
    path = build(tmp_path)
    before = parts(path)
    result = refresh(path, today=TODAY)
    assert result.written and result.plan.ids_assigned == 6
    after = parts(path)
    may_change = {
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "[Content_Types].xml",
        "xl/styles.xml",
        "docProps/app.xml",
    }
    record_parts = {f"xl/worksheets/sheet{i}.xml" for i in range(1, 5)}
    for name, data in before.items():
        if name in may_change or name in record_parts:
            continue
        assert after.get(name) == data, f"{name} changed or disappeared"
    for needed in ("xl/vbaProject.bin", "xl/media/image1.png", "xl/charts/chart1.xml", "xl/comments1.xml"):
        assert needed in after
    assert any(n.startswith("xl/ctrlProps/") or "vmlDrawing" in n for n in after)
    wb = pc.CalamineWorkbook.from_path(str(path))
    grid = wb.get_sheet_by_name("客户").to_python()
    assert all(row[0] for row in grid[1:21])  # every ID filled
    assert grid[1][0] == "C2026000001" and grid[15][0].startswith("C2026")
    assert [row[grid[0].index("我的备注")] for row in grid[1:4]] == ["备注 1", "备注 2", "备注 3"]
    assert "问题清单" in wb.sheet_names and "我的分析" in wb.sheet_names


_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _with_pivot_tables(path: Path) -> Path:
    """The canonical book with a sheet of two pivot tables as Excel stores them: one over the customers
    sheet, one over the Lists sheet (where a refresh writes nothing)."""
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = f'xmlns:r="{_DOC}"'
    with zipfile.ZipFile(path) as z:
        stored = {n: z.read(n) for n in z.namelist()}
    sheet_rels = []
    for n, (sheet, ref, field) in enumerate(
        [("客户", "A1:X20", "客户等级"), ("列表", "A1:B6", "客户类型")], 1
    ):
        stored[f"xl/pivotCache/pivotCacheDefinition{n}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<pivotCacheDefinition {main} '
            f'refreshedVersion="6" recordCount="0"><cacheSource type="worksheet"><worksheetSource ref="{ref}" '
            f'sheet="{sheet}"/></cacheSource><cacheFields count="1"><cacheField name="{field}" numFmtId="0">'
            "<sharedItems/></cacheField></cacheFields></pivotCacheDefinition>"
        ).encode()
        stored[f"xl/pivotTables/pivotTable{n}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<pivotTableDefinition {main} '
            f'name="透视表{n}" cacheId="{n}" dataCaption="值" updatedVersion="6" createdVersion="6">'
            f'<location ref="{"AD"[n - 1]}3" firstHeaderRow="1" firstDataRow="1" firstDataCol="0"/>'
            '<pivotFields count="1"><pivotField showAll="0"/></pivotFields></pivotTableDefinition>'
        ).encode()
        stored[f"xl/pivotTables/_rels/pivotTable{n}.xml.rels"] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas'
            f'.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{_DOC}/'
            f'pivotCacheDefinition" Target="../pivotCache/pivotCacheDefinition{n}.xml"/></Relationships>'
        ).encode()
        sheet_rels.append(
            f'<Relationship Id="rId{n}" Type="{_DOC}/pivotTable" Target="../pivotTables/pivotTable{n}.xml"/>'
        )
    stored["xl/worksheets/sheet99.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {main}><sheetData/></worksheet>'
    ).encode()
    stored["xl/worksheets/_rels/sheet99.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas'
        f'.openxmlformats.org/package/2006/relationships">{"".join(sheet_rels)}</Relationships>'
    ).encode()
    wb = stored["xl/workbook.xml"].decode()
    assert wb.endswith("</workbook>") and "<extLst" not in wb
    wb = wb.replace("</sheets>", f'<sheet name="透视" sheetId="99" r:id="rIdP99" {rel}/></sheets>')
    caches = "".join(f'<pivotCache cacheId="{n}" r:id="rIdC{n}" {rel}/>' for n in (1, 2))
    stored["xl/workbook.xml"] = wb.replace(
        "</workbook>", f"<pivotCaches>{caches}</pivotCaches></workbook>"
    ).encode()
    links = f'<Relationship Id="rIdP99" Type="{_DOC}/worksheet" Target="worksheets/sheet99.xml"/>' + "".join(
        f'<Relationship Id="rIdC{n}" Type="{_DOC}/pivotCacheDefinition" '
        f'Target="pivotCache/pivotCacheDefinition{n}.xml"/>'
        for n in (1, 2)
    )
    rels = stored["xl/_rels/workbook.xml.rels"].decode()
    stored["xl/_rels/workbook.xml.rels"] = rels.replace(
        "</Relationships>", links + "</Relationships>"
    ).encode()
    types = [("/xl/worksheets/sheet99.xml", f"{_SPREADSHEET}.worksheet+xml")]
    for n in (1, 2):
        types += [
            (f"/xl/pivotCache/pivotCacheDefinition{n}.xml", f"{_SPREADSHEET}.pivotCacheDefinition+xml"),
            (f"/xl/pivotTables/pivotTable{n}.xml", f"{_SPREADSHEET}.pivotTable+xml"),
        ]
    overrides = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in types)
    ct = stored["[Content_Types].xml"].decode()
    stored["[Content_Types].xml"] = ct.replace("</Types>", overrides + "</Types>").encode()
    out = path.with_name("pivots.xlsx")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in stored.items():
            z.writestr(name, data)
    return out


def test_pivot_tables_over_the_sheets_refresh_wrote_are_refreshed_on_opening(tmp_path: Path) -> None:
    """crmbook fills IDs and the derived customer columns: a pivot table over the customers sheet would
    show its totals from before until someone clicks Refresh, so its cache asks to be refreshed on
    opening (as fullCalcOnLoad does for formulas); every other pivot part stays as it was."""
    from crmbook.template import create_workbook

    book = _with_pivot_tables(create_workbook(tmp_path / "crm.xlsx", sample=20, seed=3, today=TODAY))
    before = parts(book)
    refresh(book, today=TODAY)
    after = parts(book)
    assert b'refreshOnLoad="1"' in after["xl/pivotCache/pivotCacheDefinition1.xml"]
    assert (
        after["xl/pivotCache/pivotCacheDefinition2.xml"] == before["xl/pivotCache/pivotCacheDefinition2.xml"]
    )
    for name in before:
        if name.startswith(("xl/pivotTables/", "xl/worksheets/sheet99", "xl/worksheets/_rels/sheet99")):
            assert after[name] == before[name], name
    refresh(book, today=TODAY)
    assert (
        parts(book)["xl/pivotCache/pivotCacheDefinition1.xml"]
        == after["xl/pivotCache/pivotCacheDefinition1.xml"]
    )
