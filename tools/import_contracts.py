"""Import contracts that import-linter's own types cannot say: "only these" and "only
through these doors".

Both are closed by default: a new module is private to its room, and a new import of a pure
model breaks its contract until someone decides it belongs. pyproject.toml names them in
`contract_types`; lint-imports, run from the repository's root, finds this package there.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain.imports import ModuleExpression

STANDARD_LIBRARY = frozenset(sys.stdlib_module_names)
CHAINS_SHOWN_PER_IMPORT_MAX = 3


@dataclass(frozen=True)
class StrayImport:
    importer: str
    imported: str
    line_numbers: tuple[int, ...]
    # For each source module that reaches `importer` through allowed modules: how.
    reached_through: tuple[tuple[str, ...], ...] = ()


class OnlyImportsContract(Contract):
    """Source modules import only each other, the allowed modules (as packages) and the
    standard library. Unless `allow_indirect_imports`, the allowed modules they reach are held
    to the same rule, so what a source imports cannot bring anything else in.

    Options: source_modules, allowed_modules (optional), allow_indirect_imports (default
    false), ignore_imports, unmatched_ignore_imports_alerting, broken_contract_guidance.
    """

    type_name = "only_imports"

    source_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    allowed_modules = fields.SetField(subfield=fields.ModuleExpressionField(), required=False)
    allow_indirect_imports = fields.BooleanField(default=False)
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)
    broken_contract_guidance = fields.TextField(required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        sources = _expand(graph, self.source_modules)  # type: ignore[arg-type]
        allowed = sources | _expand(graph, self.allowed_modules or ())  # type: ignore[arg-type]

        def is_allowed(module: str) -> bool:
            return module in allowed or module.split(".")[0] in STANDARD_LIBRARY

        reached: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        for source in sorted(sources):
            for path, imported in self._stray_imports_from(graph, source, allowed, is_allowed):
                reached.setdefault((path[-1], imported), []).append(path)
        stray = [
            StrayImport(
                importer,
                imported,
                _line_numbers(graph, importer, imported),
                tuple(sorted(path for path in paths if len(path) > 1)),
            )
            for (importer, imported), paths in sorted(reached.items())
        ]
        return ContractCheck(
            kept=not stray,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"stray_imports": stray},
        )

    def _stray_imports_from(
        self,
        graph: ImportGraph,
        source: str,
        allowed: set[str],
        is_allowed: Callable[[str], bool],
    ) -> Iterator[tuple[tuple[str, ...], str]]:
        """(the path from `source` to an importer, what it imports that is not allowed)."""
        follow_allowed = not self.allow_indirect_imports
        paths: deque[tuple[str, ...]] = deque([(source,)])
        seen = {source}
        while paths:
            path = paths.popleft()
            for imported in sorted(graph.find_modules_directly_imported_by(path[-1])):
                if not is_allowed(imported):
                    yield path, imported
                elif follow_allowed and imported in allowed and imported not in seen:
                    seen.add(imported)
                    paths.append((*path, imported))

    def render_broken_contract(self, check: ContractCheck) -> None:
        for stray in check.metadata["stray_imports"]:
            output.print_error(
                f"- {stray.importer} -> {stray.imported} (l.{_lines(stray.line_numbers)})",
                bold=False,
            )
            shown = stray.reached_through[:CHAINS_SHOWN_PER_IMPORT_MAX]
            for path in shown:
                output.indent_cursor()
                output.print_error(f"reached from {' -> '.join(path)}", bold=False)
            hidden = len(stray.reached_through) - len(shown)
            if hidden:
                output.indent_cursor()
                output.print_error(f"and from {hidden} more", bold=False)
        output.new_line()
        contract_utils.render_broken_contract_guidance(self.broken_contract_guidance)  # type: ignore[arg-type]


class DoorsContract(Contract):
    """A room's modules are private except its doors: the importers may import a module of
    a room only if it is a door (doors are taken as packages). An importer inside a room may
    use its own room's private modules.

    Options: importers, rooms, doors, ignore_imports, unmatched_ignore_imports_alerting,
    broken_contract_guidance. A wildcard that matches nothing is fine (a module that moved);
    a plain name must exist.
    """

    type_name = "doors"

    importers = fields.SetField(subfield=fields.ModuleExpressionField())
    rooms = fields.SetField(subfield=fields.ModuleExpressionField())
    doors = fields.SetField(subfield=fields.ModuleExpressionField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)
    broken_contract_guidance = fields.TextField(required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        rooms = _expand(graph, self.rooms, as_packages=False)  # type: ignore[arg-type]
        doors = _expand(graph, self.doors)  # type: ignore[arg-type]
        importers = _expand(graph, self.importers)  # type: ignore[arg-type]
        stray = []
        for importer in sorted(importers):
            own_room = _room_of(importer, rooms)
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                room = _room_of(imported, rooms)
                if room is None or room == own_room or imported in doors:
                    continue
                stray.append(
                    StrayImport(importer, imported, _line_numbers(graph, importer, imported))
                )
        doors_by_room = {
            room: sorted(door for door in doors if _room_of(door, rooms) == room) for room in rooms
        }
        return ContractCheck(
            kept=not stray,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"stray_imports": stray, "doors_by_room": doors_by_room, "rooms": rooms},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        rooms: set[str] = check.metadata["rooms"]
        by_room: dict[str, list[StrayImport]] = {}
        for stray in check.metadata["stray_imports"]:
            by_room.setdefault(_room_of(stray.imported, rooms) or "", []).append(stray)
        for room, strays in sorted(by_room.items()):
            doors = ", ".join(check.metadata["doors_by_room"][room]) or "no door"
            output.print_error(f"{room} is entered only through {doors}:", bold=False)
            output.new_line()
            for stray in strays:
                output.print_error(
                    f"- {stray.importer} -> {stray.imported} (l.{_lines(stray.line_numbers)})",
                    bold=False,
                )
            output.new_line()
        contract_utils.render_broken_contract_guidance(self.broken_contract_guidance)  # type: ignore[arg-type]


def _expand(
    graph: ImportGraph, expressions: Iterable[ModuleExpression], as_packages: bool = True
) -> set[str]:
    """The modules the expressions name. A plain name must exist (a typo must not pass
    quietly); a wildcard may match nothing."""
    modules: set[str] = set()
    for expression in expressions:
        if expression.has_wildcard_expression():
            matched = set(graph.find_matching_modules(expression.expression))
        elif expression.expression in graph.modules:
            matched = {expression.expression}
        else:
            raise ValueError(f"Module '{expression.expression}' does not exist.")
        modules |= matched
        if as_packages:
            modules |= {child for module in matched for child in graph.find_descendants(module)}
    return modules


def _room_of(module: str, rooms: Iterable[str]) -> str | None:
    for room in rooms:
        if module == room or module.startswith(room + "."):
            return room
    return None


def _line_numbers(graph: ImportGraph, importer: str, imported: str) -> tuple[int, ...]:
    details = graph.get_import_details(importer=importer, imported=imported)
    return tuple(sorted({detail["line_number"] for detail in details}))


def _lines(line_numbers: Sequence[int]) -> str:
    return ", ".join(map(str, line_numbers)) or "?"
