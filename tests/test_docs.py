"""The docs keep up with the schema and the CLI."""

from __future__ import annotations

from pathlib import Path

from crmbook.cli import cli
from crmbook.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent


def test_workbook_doc_covers_the_schema() -> None:
    text = (ROOT / "docs" / "workbook.md").read_text("utf-8")
    schema = load_schema()
    missing = []
    for sheet in schema.sheets:
        for label in (sheet.zh, sheet.en):
            if label not in text:
                missing.append(label)
        for col in sheet.columns:
            if f"| `{col.key}` | {col.en} | {col.zh} |" not in text:
                missing.append(f"{sheet.key}.{col.key}")
    for lst in schema.lists.values():
        missing += [f"{lst.key}:{i.zh}" for i in lst.items if f"{i.zh} / {i.en}" not in text]
    missing += [s.key for s in schema.settings if f"`{s.key}`" not in text]
    for names in (*schema.owned_sheets.values(), *schema.config_sheets.values()):
        missing += [n for n in names.values() if n not in text]
    assert not missing, f"docs/workbook.md does not mention: {missing}"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    undocumented = [name for name in cli.commands if f"crmbook {name}" not in readme]
    assert not undocumented


def test_readme_opens_with_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    blocks = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in blocks.splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert commands[1].strip() in ci


def test_every_issue_code_is_documented() -> None:
    from crmbook.issues import CATALOG

    text = (ROOT / "docs" / "refresh.md").read_text("utf-8")
    assert [code for code in CATALOG if f"`{code}`" not in text] == []
