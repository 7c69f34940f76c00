"""The lender's own attributes: registered as data, read by policies beside creditline's features.

A deployment names its registry, a TOML file (`CREDITLINE_ATTRIBUTES_FILE`), with one table per
attribute: its type (numeric, boolean or categorical with its categories), where its value
comes from (`application`: a field of the application; `batch`: a CSV keyed by borrower, loaded
with `creditline attributes load`), its data category (a profile's allow-list, EU-1), what an
operator reads, how a borrower reads its name (English and Chinese), and, when it is scored,
its adverse reason code and which way its risk runs.

A policy that reads an attribute carries its definition in `attributes:` (docs/decisions/0022):
an approved version means what it meant whatever the registry says later, and every evaluator
reads the policy alone. The lint holds those definitions to the registry the deployment names.
An application gives its fields (`application_values`); they are stored as a load stores its
values, as of the application's time.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from creditline.db.unit_of_work import Database, Transaction
from creditline.decisions.features import FEATURES, Feature, FeatureType, Risk, Source
from creditline.decisions.tables import lender_attribute_values
from creditline.kernel.clock import Clock
from creditline.kernel.data_categories import NEVER_FOR_CREDITWORTHINESS, DataCategory
from creditline.kernel.errors import InvalidInput

BORROWER_COLUMN = "borrower_id"
APPLICATION_FIELDS_MAX = 64  # lender's fields one application may give


class AttributeUnknown(InvalidInput):
    """A field no registered attribute names."""

    code = "attribute_unknown"


class AttributeNotFromApplication(InvalidInput):
    """A registered attribute the lender loads itself (`source: batch`), given by an applicant."""

    code = "attribute_not_from_application"


class AttributeValueInvalid(InvalidInput):
    """A value its attribute's type does not take."""

    code = "attribute_value_invalid"


class AttributeType(StrEnum):
    NUMERIC = "numeric"  # a decimal number, read as a DOUBLE (as a ratio feature is)
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"


class AttributeSource(StrEnum):
    APPLICATION = "application"  # a field the applicant gives
    BATCH = "batch"  # a CSV keyed by borrower (`creditline attributes load`)


_FEATURE_TYPES = {
    AttributeType.NUMERIC: FeatureType.NUMBER,
    AttributeType.BOOLEAN: FeatureType.BOOLEAN,
    AttributeType.CATEGORICAL: FeatureType.CATEGORY,
}


class LenderAttribute(BaseModel):
    """One registered attribute, as the registry and a policy's `attributes:` write it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    type: AttributeType
    categories: list[StrictStr] = Field(default_factory=list)
    source: AttributeSource
    data_category: DataCategory
    operator_text: StrictStr = Field(min_length=1)
    label_en: StrictStr = Field(min_length=1)
    label_zh: StrictStr = Field(min_length=1)
    reason: StrictStr | None = None  # the adverse reason named when it costs points
    riskier: Risk | None = None  # numeric: which way its risk runs

    def feature(self) -> Feature:
        """The attribute as a feature a policy reads."""
        return Feature(
            self.name,
            _FEATURE_TYPES[self.type],
            # An application field is what the applicant told us; the rest is the lender's own.
            Source.APPLICATION if self.source is AttributeSource.APPLICATION else Source.LENDER,
            self.label_en,
            tuple(self.categories),
            reason=self.reason,
            riskier=self.riskier,
            data_category=self.data_category,
            label_zh=self.label_zh,
        )

    def problems(self) -> list[str]:
        """What is wrong with the definition itself (empty: nothing)."""
        where = f"attributes.{self.name}"
        problems = []
        if self.name in FEATURES:
            problems.append(f"{where}: the name is creditline's own feature")
        categorical = self.type is AttributeType.CATEGORICAL
        if categorical != bool(self.categories):
            problems.append(f"{where}: categories go with a categorical attribute, and only it")
        if self.data_category in NEVER_FOR_CREDITWORTHINESS:
            problems.append(f"{where}: {self.data_category} data never assesses creditworthiness")
        if self.riskier is not None and self.type is not AttributeType.NUMERIC:
            problems.append(f"{where}: riskier goes with a numeric attribute only")
        return problems

    def parse(self, text: str) -> Any:
        """A value as written in a CSV (empty: unknown), typed; `ValueError` if it is not one."""
        if text == "":
            return None
        if self.type is AttributeType.NUMERIC:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(f"{text!r} is not a finite number")
            return value
        if self.type is AttributeType.BOOLEAN:
            if text not in ("true", "false"):
                raise ValueError(f"{text!r} is not true or false")
            return text == "true"
        if text not in self.categories:
            raise ValueError(f"{text!r} is not one of {', '.join(self.categories)}")
        return text

    def typed(self, value: object) -> Any:
        """A value as JSON gives it (null: unknown), typed; `ValueError` if it is not one."""
        if value is None:
            return None
        if self.type is AttributeType.NUMERIC:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("not a number")
            try:
                number = float(value)
            except OverflowError:
                raise ValueError("not a finite number") from None
            if not math.isfinite(number):
                raise ValueError("not a finite number")
            return number
        if self.type is AttributeType.BOOLEAN:
            if type(value) is not bool:
                raise ValueError("not true or false")
            return value
        if type(value) is not str or value not in self.categories:
            raise ValueError(f"not one of {', '.join(self.categories)}")
        return value

    def accepts(self, value: object) -> bool:
        """Whether `value` is one of this attribute's (null is: unknown)."""
        try:
            self.typed(value)
        except ValueError:
            return False
        return True

    @staticmethod
    def written(value: Any) -> str:
        """A typed value as stored (the CSV's spelling)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return repr(value) if isinstance(value, float) else str(value)


Registry = Mapping[str, LenderAttribute]


def features_with(attributes: Iterable[LenderAttribute]) -> dict[str, Feature]:
    """creditline's features and the lender's `attributes`, by name."""
    return FEATURES | {a.name: a.feature() for a in attributes}


def read_together(groups: Iterable[Iterable[LenderAttribute]]) -> list[LenderAttribute]:
    """The attributes several policies read, each name once, as the first that carries it
    defines it (the active version's first): what is read for them all at once."""
    found: dict[str, LenderAttribute] = {}
    for group in groups:
        for attribute in group:
            found.setdefault(attribute.name, attribute)
    return list(found.values())


def application_values(registry: Registry, given: Mapping[str, object]) -> dict[str, Any]:
    """The lender's fields an application gives, typed by the registry, by name: each a
    registered attribute whose source is the application (null: unknown)."""
    if len(given) > APPLICATION_FIELDS_MAX:
        raise InvalidInput(
            f"at most {APPLICATION_FIELDS_MAX} attributes", attributes_max=APPLICATION_FIELDS_MAX
        )
    values = {}
    for name, value in sorted(given.items()):
        attribute = registry.get(name)
        if attribute is None:
            raise AttributeUnknown(f"{name[:64]!r} is not a registered attribute", attribute=name)
        if attribute.source is not AttributeSource.APPLICATION:
            raise AttributeNotFromApplication(
                f"{name} is the lender's own data, not an application field", attribute=name
            )
        try:
            values[name] = attribute.typed(value)
        except ValueError as error:
            raise AttributeValueInvalid(
                f"{name}: {error}", attribute=name, type=attribute.type.value
            ) from None
    return values


def load_registry(path: Path) -> dict[str, LenderAttribute]:
    """The registry in the TOML file at `path`; `InvalidInput` lists every problem in it."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"attributes {path}: {error}") from None
    tables = document.get("attributes")
    if not isinstance(tables, dict) or set(document) != {"attributes"}:
        raise InvalidInput(f"attributes {path}: one [attributes.NAME] table per attribute")
    registry: dict[str, LenderAttribute] = {}
    problems: list[str] = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            problems.append(f"attributes.{name}: not a table")
            continue
        try:
            attribute = LenderAttribute.model_validate({"name": name, **table})
        except ValidationError as error:
            problems += [
                f"attributes.{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors()
            ]
            continue
        problems += attribute.problems()
        registry[name] = attribute
    if problems:
        raise InvalidInput(f"attributes {path}: " + "; ".join(problems), problems=problems)
    return registry


def registry_problems(attributes: list[LenderAttribute], registry: Registry) -> list[str]:
    """A policy's attributes against the deployment's registry: each registered, as registered."""
    problems = []
    for attribute in attributes:
        registered = registry.get(attribute.name)
        if registered is None:
            problems.append(f"attributes.{attribute.name}: not a registered attribute")
        elif registered != attribute:
            problems.append(f"attributes.{attribute.name}: differs from its registration")
    return problems


def read_values(path: Path, registry: Registry) -> list[dict[str, Any]]:
    """The rows of a CSV (`borrower_id` and registered attributes: a batch attribute's file,
    or the application fields a lender holds from before creditline), typed; `InvalidInput`
    at the first problem, with its line."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            columns = list(reader.fieldnames or [])
            attributes = _attribute_columns(path, columns, registry)
            rows, seen = [], set()
            for line, record in enumerate(reader, start=2):
                if None in record or any(v is None for v in record.values()):
                    raise InvalidInput(f"{path}:{line}: not {len(columns)} columns")
                borrower = record[BORROWER_COLUMN]
                if not borrower or len(borrower) > 64 or borrower in seen:
                    raise InvalidInput(f"{path}:{line}: borrower_id empty, too long or repeated")
                seen.add(borrower)
                try:
                    values = {a.name: a.parse(record[a.name]) for a in attributes}
                except ValueError as error:
                    raise InvalidInput(f"{path}:{line}: {error}") from None
                rows.append({BORROWER_COLUMN: borrower, **values})
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InvalidInput(f"{path}: {error}") from None
    return rows


def _attribute_columns(path: Path, columns: list[str], registry: Registry) -> list[LenderAttribute]:
    if not columns or columns[0] != BORROWER_COLUMN or len(set(columns)) != len(columns):
        raise InvalidInput(f"{path}: the first column is borrower_id, and no column repeats")
    attributes = []
    for name in columns[1:]:
        attribute = registry.get(name)
        if attribute is None:
            raise InvalidInput(f"{path}: {name} is not a registered attribute")
        attributes.append(attribute)
    if not attributes:
        raise InvalidInput(f"{path}: no attribute column")
    return attributes


class LenderAttributes:
    """The registered attributes' values: loaded in batches, read for the borrowers decided."""

    def __init__(self, db: Database, clock: Clock, registry: Registry) -> None:
        self._db = db
        self._clock = clock
        self.registry = registry
        self._delete = db.prepare(
            delete(lender_attribute_values).where(
                lender_attribute_values.c.borrower_id == bindparam("borrower_id"),
                lender_attribute_values.c.name == bindparam("name"),
            )
        )
        self._insert = db.prepare(
            insert(lender_attribute_values).values(
                {c.name: bindparam(c.name) for c in lender_attribute_values.c}
            )
        )

    def load(self, path: Path) -> int:
        """Store every value of the CSV at `path`, each replacing the borrower's value of that
        attribute (loading a file twice stores it once); the values stored. A bad file is
        `InvalidInput` and nothing is stored."""
        entries = [
            (row[BORROWER_COLUMN], name, None if value is None else LenderAttribute.written(value))
            for row in read_values(path, self.registry)
            for name, value in row.items()
            if name != BORROWER_COLUMN
        ]

        def store(tx: Transaction) -> int:
            self._store_in(tx, entries, self._clock.now())
            return len(entries)

        return self._db.run(store)

    def store_in(
        self, tx: Transaction, borrower_id: str, values: Mapping[str, Any], at: datetime
    ) -> None:
        """In `tx`: the borrower's `values` (typed, by name), each replacing their earlier
        value of that attribute, as of `at` (an application's fields, as of the application)."""
        entries = [
            (borrower_id, name, None if value is None else LenderAttribute.written(value))
            for name, value in values.items()
        ]
        self._store_in(tx, entries, at)

    def _store_in(
        self, tx: Transaction, entries: list[tuple[str, str, str | None]], at: datetime
    ) -> None:
        stored_at = tx.time(at)
        for borrower, name, value in entries:
            key = {"borrower_id": borrower, "name": name}
            tx.execute(self._delete, key)
            tx.execute(self._insert, key | {"value": value, "loaded_at": stored_at})

    def values(self, connection: Connection, borrower_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each borrower's stored values of the registered attributes, typed (null: unknown)."""
        return stored_values(connection, borrower_ids, self.registry)


def stored_values(
    connection: Connection, borrower_ids: list[str] | None, attributes: Registry
) -> dict[str, dict[str, Any]]:
    """Each borrower's stored values of `attributes`, typed as they say (null: unknown), by
    borrower id (`borrower_ids`, or every borrower when None); a borrower with none stored is
    left out. A value a definition does not take (the registry changed since a policy copied
    it) is unknown to that policy."""
    if not attributes:
        return {}
    values = lender_attribute_values.c
    of_borrowers = [] if borrower_ids is None else [values.borrower_id.in_(borrower_ids)]
    rows = connection.execute(
        select(
            lender_attribute_values.c.borrower_id,
            lender_attribute_values.c.name,
            lender_attribute_values.c.value,
        ).where(
            *of_borrowers,
            lender_attribute_values.c.name.in_(list(attributes)),
        )
    )
    found: dict[str, dict[str, Any]] = {}
    for borrower, name, value in rows:
        found.setdefault(borrower, {})[name] = _read(attributes[name], value)
    return found


def _read(attribute: LenderAttribute, value: str | None) -> Any:
    try:
        return None if value is None else attribute.parse(value)
    except ValueError:
        return None
