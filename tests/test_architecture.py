"""The import contracts bite, and docs/architecture.md draws the rooms as the code has them.

Each contract case adds one forbidden import to a copy of the tree and expects exactly its
contracts to break; the copy as it is must keep them all, which is how `make test` checks
the real tree's contracts (the copy is made once per test worker).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ARCHITECTURE_DOC = REPO / "docs" / "architecture.md"
LINT_SECONDS_MAX = 60
VERDICT = re.compile(r"^(?P<name>.+) (?P<verdict>KEPT|BROKEN)\b", re.MULTILINE)


def _contracts() -> list[dict[str, object]]:
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["importlinter"]["contracts"]


CONTRACT_ID_BY_NAME = {str(c["name"]): str(c["id"]) for c in _contracts()}


@dataclass(frozen=True)
class Lint:
    broken: set[str]  # contract ids
    report: str


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what lint-imports reads: the package, the contracts and their types."""
    root = tmp_path_factory.mktemp("tree")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", root / "src", ignore=skip)
    shutil.copytree(REPO / "tools", root / "tools", ignore=skip)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def lint(tree: Path) -> Lint:
    result = subprocess.run(
        [LINT_IMPORTS, "--config", str(tree / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=tree,  # lint-imports finds the contract types in tools/ from here
        env={**os.environ, "PYTHONPATH": str(tree / "src"), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=LINT_SECONDS_MAX,
        check=False,
    )
    report = result.stdout + result.stderr
    verdicts = {m["name"]: m["verdict"] for m in VERDICT.finditer(result.stdout)}
    assert set(verdicts) == set(CONTRACT_ID_BY_NAME), report
    broken = {CONTRACT_ID_BY_NAME[name] for name, v in verdicts.items() if v == "BROKEN"}
    assert (result.returncode == 0) == (not broken), report
    return Lint(broken, report)


@contextmanager
def added(tree: Path, module_path: str, line: str) -> Iterator[None]:
    """`line` appended to the copy's module, for the length of the block."""
    path = tree / "src" / "creditline" / module_path
    original = path.read_text()
    path.write_text(f"{original}\n{line}  # added by tests/test_architecture.py\n")
    try:
        yield
    finally:
        path.write_text(original)


def a_route_module() -> str:
    """A module of the API's routes (a router in api/routers/)."""
    package = REPO / "src" / "creditline"
    return str(sorted(package.glob("api/routers/[!_]*.py"))[0].relative_to(package))


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    outcome = lint(tree)
    assert outcome.broken == set(), outcome.report


CASES = [
    # (what, module, the line added, the contracts it breaks)
    ("a pure model imports a framework", "ledger/model.py", "import duckdb", {"pure"}),
    ("a pure model renders", "loans/schedule.py", "import jinja2", {"pure"}),
    (
        "a pure model imports another capability's use case",
        "ledger/model.py",
        "from creditline.loans.quote import quote",
        {"pure", "capabilities"},
    ),
    (
        "a capability reads another's tables",
        "decisions/appeals.py",
        "from creditline.ledger.tables import lines",
        {"capabilities"},
    ),
    (
        "a capability reaches past the outbox",
        "loans/service.py",
        "from creditline.notices.dispatcher import Dispatcher",
        {"capabilities"},
    ),
    (
        "a shell reads a store",
        "api/app.py",
        "from creditline.loans.store import LoanStore",
        {"shells"},
    ),
    (
        "a route reads a store",
        a_route_module(),
        "from creditline.ledger.store import LedgerStore",
        {"shells"},
    ),
    (
        "a capability imports the composition root",
        "ledger/service.py",
        "from creditline.bootstrap import Container",
        {"layers"},
    ),
    # The kernel is held to the pure models' rule as well as lying below every layer.
    (
        "the kernel imports a capability",
        "kernel/permissions.py",
        "import creditline.ledger.service",
        {"layers", "pure"},
    ),
]


@pytest.mark.parametrize(
    ("module_path", "line", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, module_path: str, line: str, expected: set[str]
) -> None:
    with added(tree, module_path, line):
        outcome = lint(tree)
    assert outcome.broken == expected, outcome.report


def test_a_pure_model_is_impure_through_what_it_imports(tree: Path) -> None:
    # ledger/model.py imports kernel/text.py, which here learns SQL.
    with added(tree, "kernel/text.py", "import sqlalchemy"):
        outcome = lint(tree)
    assert outcome.broken == {"pure"}, outcome.report
    assert "reached from creditline.ledger.model -> creditline.kernel.text" in outcome.report


# --- the rooms diagram ---------------------------------------------------------------------
LAYOUT = (  # (box, its rooms), top to bottom
    ("shells", ("cli", "web", "api", "demo")),
    (None, ("bootstrap",)),
    (None, ("portfolio",)),
    ("capabilities", ("ledger", "loans", "decisions", "notices", "outbox")),
    ("infrastructure", ("db", "config", "metrics", "kernel")),
)
LABELS = {"outbox": "notices.outbox"}


def room_of(module: str) -> str | None:
    """The room a module lives in, as the diagram draws it; None for what it leaves out:
    the package's root and Alembic's environment (which must see every table)."""
    parts = module.split(".")
    if parts[0] != "creditline" or len(parts) == 1 or module.startswith("creditline.db.migrations"):
        return None
    if module == "creditline.notices.outbox":
        return "outbox"
    return parts[1]


def room_arrows() -> dict[tuple[str, str], bool]:
    """(importing room, imported room) -> drawn solid. Dashed stands only for imports that
    the capabilities' contract ignores while they are being removed."""
    graph = grimp.build_graph("creditline", cache_dir=None)
    capabilities_contract = next(c for c in _contracts() if c["id"] == "capabilities")
    being_removed = {
        (found["importer"], found["imported"])
        for expression in capabilities_contract.get("ignore_imports", [])
        for found in graph.find_matching_direct_imports(import_expression=str(expression))
    }
    arrows: dict[tuple[str, str], bool] = {}
    for importer in graph.modules:
        source = room_of(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            target = room_of(imported)
            if source is None or target is None or target == source:
                continue
            solid = (importer, imported) not in being_removed
            arrows[(source, target)] = arrows.get((source, target), False) or solid
    return arrows


def grouped(arrows: dict[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
    """A solid arrow from (or to) every room of a box is drawn once, from (or to) the box."""
    drawn = dict(arrows)
    every_room = [room for _, rooms in LAYOUT for room in rooms]
    for box, rooms in LAYOUT:
        if box is None:
            continue
        for other in (room for room in every_room if room not in rooms):
            for pairs, box_pair in (
                ([(room, other) for room in rooms], (box, other)),
                ([(other, room) for room in rooms], (other, box)),
            ):
                if all(drawn.get(pair) is True for pair in pairs):
                    for pair in pairs:
                        del drawn[pair]
                    drawn[box_pair] = True
    return drawn


def rooms_diagram() -> str:
    """The Mermaid flowchart of the rooms and the imports between them."""
    lines = ["flowchart TD"]
    for box, rooms in LAYOUT:
        indent = "    " if box is None else "        "
        if box is not None:
            lines.append(f"    subgraph {box}")
        for room in rooms:
            label = LABELS.get(room)
            lines.append(f'{indent}{room}["{label}"]' if label else f"{indent}{room}")
        if box is not None:
            lines.append("    end")
    for (source, target), solid in sorted(grouped(room_arrows()).items()):
        arrow = "-->" if solid else "-. being removed .->"
        lines.append(f"    {source} {arrow} {target}")
    return "\n".join(lines)


def test_the_architecture_doc_draws_the_rooms_as_the_code_has_them() -> None:
    blocks = re.findall(r"```mermaid\n(flowchart.*?)\n```", ARCHITECTURE_DOC.read_text(), re.S)
    drawn = blocks[0] if blocks else ""
    expected = rooms_diagram()
    assert drawn == expected, (
        "docs/architecture.md's rooms diagram is not the code's; paste this in its place:\n\n"
        f"```mermaid\n{expected}\n```"
    )
