"""The test suite in the two environments crmbook must work in (``pip install nox && nox``).

* ``newest``: the newest release of every dependency, and lxml installed (as Anaconda and many
  packages bring it; openpyxl then serialises differently).
* ``lowest``: the lowest version of every dependency that ``pyproject.toml`` allows, and no lxml.
  The validator of the workbooks the tests write (``../shared/ooxml``) needs lxml: it runs from a
  small tools environment made beside, named to the suite by ``CRMBOOK_OOXML_PYTHON``.

Arguments after ``--`` go to pytest (``nox -s lowest -- tests/test_refresh.py``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["newest", "lowest"]
nox.options.reuse_existing_virtualenvs = False
ROOT = Path(__file__).parent
# Lower bounds that pyproject cannot state: pandas releases before 2.2 are built against numpy 1.
EXTRA_LOWEST = ["numpy<2"]


def lowest_constraints() -> list[str]:
    """``name==version`` for every ``name>=version`` of the project's dependencies and test extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    pins = []
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:>=|==)\s*([^,;\s]+)\s*", spec)
        if m:
            pins.append(f"{m[1]}=={m[2]}")
    return pins + EXTRA_LOWEST


@nox.session
def newest(session: nox.Session) -> None:
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]", "lxml")
    session.run("python", "-c", "import lxml, openpyxl; assert openpyxl.LXML is False")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lowest(session: nox.Session) -> None:
    constraints = Path(session.create_tmp()) / "lowest-constraints.txt"
    constraints.write_text("\n".join(lowest_constraints()) + "\n", "utf-8")
    session.install("-c", str(constraints), "-e", ".[test]")
    session.run("python", "-m", "pip", "uninstall", "-y", "lxml")
    session.run("python", "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('lxml') is not None)")
    session.run("python", "-m", "pip", "list", "--format=freeze")
    tools = Path(session.create_tmp()) / "ooxml-tools"
    session.run("python", "-m", "venv", "--clear", str(tools))
    session.run(str(tools / "bin" / "python"), "-m", "pip", "install", "-q", "lxml", external=True)
    session.env["CRMBOOK_OOXML_PYTHON"] = str(tools / "bin" / "python")
    session.run("python", "-m", "pytest", *session.posargs)
