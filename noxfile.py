"""The test suite in the two environments crmbook must work in (``pip install nox && nox``).

* ``newest``: the newest release of every dependency, and lxml installed (as Anaconda and many
  packages bring it; openpyxl then serialises differently).
* ``lowest``: the lowest release of every dependency that ``pyproject.toml`` allows (uv's
  ``--resolution lowest-direct``), and no lxml.
  The validator of the workbooks the tests write (``../shared/ooxml``) needs lxml: it runs from a
  small tools environment made beside, named to the suite by ``CRMBOOK_OOXML_PYTHON``.

Arguments after ``--`` go to pytest (``nox -s lowest -- tests/test_refresh.py``).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["newest", "lowest"]
nox.options.reuse_existing_virtualenvs = False
# What pandas releases before 2.2.2 need but do not say: they are built against numpy 1.
LOWEST_CONSTRAINTS = ["numpy<2"]


@nox.session
def newest(session: nox.Session) -> None:
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]", "lxml")
    session.run("python", "-c", "import lxml, crmbook, openpyxl; assert openpyxl.LXML is False")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lowest(session: nox.Session) -> None:
    # uv resolves every direct dependency to the lowest release pyproject.toml allows (pip cannot).
    session.install("uv")
    constraints = Path(session.create_tmp()) / "lowest-constraints.txt"
    constraints.write_text("\n".join(LOWEST_CONSTRAINTS) + "\n", "utf-8")
    python = str(Path(session.bin) / "python")
    session.run(
        "uv",
        "pip",
        "install",
        "--python",
        python,
        "--resolution",
        "lowest-direct",
        "-c",
        str(constraints),
        "-e",
        ".[test]",
    )
    session.run("uv", "pip", "uninstall", "--python", python, "lxml", success_codes=[0, 1, 2])
    session.run("python", "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('lxml') is not None)")
    session.run("uv", "pip", "list", "--python", python)
    tools = Path(session.create_tmp()) / "ooxml-tools"
    session.run("python", "-m", "venv", "--clear", str(tools))
    session.run(str(tools / "bin" / "python"), "-m", "pip", "install", "-q", "lxml", external=True)
    session.env["CRMBOOK_OOXML_PYTHON"] = str(tools / "bin" / "python")
    session.run("python", "-m", "pytest", *session.posargs)
