"""``crmbook new``: the canonical workbook, built from the schema with openpyxl.

Record sheets are Excel tables with styled headers (required and
crmbook-filled columns marked), dropdowns fed by dynamic named ranges on the
Lists sheet (a list item typed below the last one shows up in the dropdown),
number formats, frozen headers, widths and input hints. The Settings sheet
holds the team's settings and reps. Sample data comes from
:mod:`crmbook.sample`.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from crmbook.errors import InputError, WorkbookFileError
from crmbook.ooxml.cells import MAX_ROW
from crmbook.schema import Column, Lang, Schema, SheetSpec, load_schema

__all__ = ["NUMBER_FORMATS", "create_workbook", "workbook_bytes"]

NUMBER_FORMATS = {
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "amount": "¥#,##0.00",
    "percent": '0"%"',
    "integer": "#,##0",
}
FORMATTED_ROWS = 1000  # empty rows below the data that get number formats ready for typing

HEADER_FONT = Font(bold=True, color="FFFFFF")
FILLS = {
    "normal": PatternFill("solid", fgColor="1F4E78"),
    "required": PatternFill("solid", fgColor="C65911"),
    "owned": PatternFill("solid", fgColor="7F7F7F"),
}
WORDS = {
    "zh": {
        "required": "必填",
        "owned": "由 crmbook 自动填写，请勿手工修改",
        "meaning": "说明",
        "date_hint": "日期格式：yyyy-mm-dd",
    },
    "en": {
        "required": "Required",
        "owned": "Filled by crmbook; do not edit",
        "meaning": "Meaning",
        "date_hint": "Date as yyyy-mm-dd",
    },
}


def list_name(list_key: str) -> str:
    return f"crm_list_{list_key}"


def _header_kind(col: Column, spec: SheetSpec) -> str:
    if col.owned:
        return "owned"
    return "required" if col.required else "normal"


def _write_lists(wb: Workbook, schema: Schema, lang: Lang) -> None:
    ws = wb.create_sheet(schema.config_sheet_name("lists", lang))
    sheet_ref = quote_sheetname(ws.title)
    c = 1
    for lst in schema.lists.values():
        letter = get_column_letter(c)
        head = ws.cell(1, c, lst.label(lang))
        head.font, head.fill = HEADER_FONT, FILLS["normal"]
        for r, item in enumerate(lst.items, start=2):
            ws.cell(r, c, item.label(lang))
        ws.column_dimensions[letter].width = max(12, len(lst.label(lang)) * 2 + 2)
        formula = f"OFFSET({sheet_ref}!${letter}$2,0,0,MAX(1,COUNTA({sheet_ref}!${letter}:${letter})-1),1)"
        wb.defined_names[list_name(lst.key)] = DefinedName(list_name(lst.key), attr_text=formula)
        c += 1
        if any(i.note(lang) for i in lst.items):
            ws.cell(1, c, f"{lst.label(lang)}{WORDS[lang]['meaning']}").font = Font(bold=True)
            for r, item in enumerate(lst.items, start=2):
                ws.cell(r, c, item.note(lang))
            ws.column_dimensions[get_column_letter(c)].width = 16
            c += 1
    ws.freeze_panes = "A2"


def _write_settings(wb: Workbook, schema: Schema, lang: Lang) -> None:
    ws = wb.create_sheet(schema.config_sheet_name("settings", lang))
    ws.append(list(schema.settings_headers[lang]))
    for s in schema.settings:
        ws.append([s.label(lang), s.default_for(lang), s.note(lang) or None])
    last = ws.max_row
    ws.add_table(_table("Settings", f"A1:C{last}"))
    start = last + 2  # one blank row between the two blocks
    for c, label in enumerate(schema.reps_headers[lang], start=1):
        ws.cell(start, c, label)
    for r, rep in enumerate(schema.reps, start=start + 1):
        for c, value in enumerate((rep.name, rep.team, rep.target), start=1):
            ws.cell(r, c, value)
    ws.add_table(_table("Reps", f"A{start}:C{ws.max_row}"))
    for r in range(start + 1, ws.max_row + 1):
        ws.cell(r, 3).number_format = NUMBER_FORMATS["amount"]
    for col, width in zip("ABC", (34, 22, 30), strict=True):
        ws.column_dimensions[col].width = width


def _table(name: str, ref: str) -> Table:
    table = Table(displayName=name, ref=ref)
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    return table


def _cell_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _write_record_sheet(wb: Workbook, spec: SheetSpec, lang: Lang, data: pd.DataFrame | None) -> Worksheet:
    ws = wb.create_sheet(spec.label(lang))
    words = WORDS[lang]
    for c, col in enumerate(spec.columns, start=1):
        cell = ws.cell(1, c, col.label(lang))
        kind = _header_kind(col, spec)
        cell.font, cell.fill = HEADER_FONT, FILLS[kind]
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        if kind != "normal":
            cell.comment = Comment(words[kind], "crmbook", width=180, height=40)
        ws.column_dimensions[get_column_letter(c)].width = col.width
    n = 0 if data is None else len(data)
    if data is not None and n:
        keys = [c.key for c in spec.columns]
        frame = data.reindex(columns=keys)
        for values in frame.itertuples(index=False, name=None):
            ws.append([_cell_value(v) for v in values])
    last_data_row = max(2, n + 1)
    for c, col in enumerate(spec.columns, start=1):
        fmt = NUMBER_FORMATS.get(col.type)
        if fmt:
            for r in range(2, max(last_data_row, FORMATTED_ROWS) + 1):
                ws.cell(r, c).number_format = fmt
    last_col = get_column_letter(len(spec.columns))
    ws.add_table(_table(spec.table, f"A1:{last_col}{last_data_row}"))
    ws.freeze_panes = "C2" if spec.key == "customers" else "B2"
    ws.row_dimensions[1].height = 30
    _add_validations(ws, spec, lang)
    return ws


def _add_validations(ws: Worksheet, spec: SheetSpec, lang: Lang) -> None:
    for c, col in enumerate(spec.columns, start=1):
        letter = get_column_letter(c)
        area = f"{letter}2:{letter}1048576"
        hint = col.hint(lang)
        dv: DataValidation | None = None
        if col.list:
            dv = DataValidation(type="list", formula1=list_name(col.list), allow_blank=True)
            dv.errorStyle = "warning"
            dv.showErrorMessage = True
            dv.error = {
                "zh": "不在列表中；可在“列表”工作表中添加",
                "en": "Not in the list; add it on the Lists sheet",
            }[lang]
        elif col.type in ("date", "datetime"):
            dv = DataValidation(type="date", operator="greaterThan", formula1="1", allow_blank=True)
            dv.errorStyle = "warning"
            dv.showErrorMessage = True
            dv.error = WORDS[lang]["date_hint"]
            hint = hint or WORDS[lang]["date_hint"]
        elif hint:
            dv = DataValidation(allow_blank=True)
        if dv is None:
            continue
        if hint:
            dv.prompt = hint[:255]
            dv.promptTitle = col.label(lang)[:32]
            dv.showInputMessage = True
        dv.add(area)
        ws.add_data_validation(dv)


def build_workbook(
    *, lang: Lang = "zh", frames: dict[str, pd.DataFrame] | None = None, schema: Schema | None = None
) -> Workbook:
    """The canonical workbook in memory, with ``frames`` (sheet key -> records) as its data."""
    schema = schema or load_schema()
    wb = Workbook()
    wb.remove(wb.active)
    for spec in schema.sheets:
        _write_record_sheet(wb, spec, lang, (frames or {}).get(spec.key))
    _write_lists(wb, schema, lang)
    _write_settings(wb, schema, lang)
    wb.properties.title = {"zh": "客户管理工作簿", "en": "Customer workbook"}[lang]
    wb.properties.creator = "crmbook"
    return wb


def workbook_bytes(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _check_sample_fits(sample: int, frames: dict[str, pd.DataFrame], lang: Lang) -> None:
    """Refuse sample data a sheet cannot hold: Excel opens no sheet with rows past 1,048,576."""
    for spec in load_schema().sheets:
        rows = len(frames.get(spec.key, ()))
        if rows + 1 > MAX_ROW:
            fit = sample * (MAX_ROW - 1) // rows // 1000 * 1000 or sample * (MAX_ROW - 1) // rows
            raise InputError(
                f"--sample {sample:,}: the sheet {spec.label(lang)} would get {rows:,} records, more than "
                f"an Excel sheet holds ({MAX_ROW - 1:,} below the header); choose at most {fit:,} customers"
            )


def create_workbook(
    path: str | os.PathLike[str],
    *,
    lang: Lang = "zh",
    sample: int = 0,
    seed: int = 42,
    today: dt.date | None = None,
) -> Path:
    """Create the canonical workbook at ``path`` (refusing to overwrite), optionally with sample data."""
    from crmbook.safe_save import write_new_file

    target = Path(path)
    if target.suffix.lower() == ".xlsm":
        raise InputError(
            f"{target}: macro workbooks are made by `crmbook install-buttons`; create {target.with_suffix('.xlsx').name} first"
        )
    if target.suffix.lower() != ".xlsx":
        raise InputError(f"{target}: the workbook name must end in .xlsx")
    if target.exists():
        raise WorkbookFileError(
            target, "already exists; choose another name, delete it first, or use --force"
        )
    frames = None
    if sample:
        from crmbook.sample import generate_sample

        frames = generate_sample(sample, seed=seed, today=today or dt.date.today(), lang=lang)
        _check_sample_fits(sample, frames, lang)
    return write_new_file(target, workbook_bytes(build_workbook(lang=lang, frames=frames)))
