"""Who an adverse-action notice names: the lender and the credit bureau of each profile.

A deployment writes them in a TOML file (`CREDITLINE_CONTACTS_FILE`) keyed by profile id, the
keys of `[profiles]` in the product catalogue:

    [US.lender]
    name = "…"
    address = "…"
    phone = "…"
    agency = "…"        # US: who administers the creditor's ECOA compliance (Reg B 1002.9)
    [US.bureau]
    name = "…"
    address = "…"
    phone = "…"         # US: the bureau's toll-free number (FCRA 615(a))
    score_range = [300, 850]

Every profile needs the lender's and the bureau's name, address and phone; a jurisdiction's
notices print more (`REQUIRED_BY_JURISDICTION`): US the federal agency and the score range, CN
where to object to credit-report data and where to complain (CN-8). The contacts of a profile
whose notices are in Chinese hold no Latin letters: they are printed inside Chinese notices.

Outside development the file must name every profile in use, complete, or creditline refuses
to start. In development without a file, each profile borrows the sample contacts of its
jurisdiction (`demo_contacts.toml`, keyed by jurisdiction).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from creditline.kernel.text import has_refused_characters
from creditline.loans.products import Profile

CONTACT_TEXT_LENGTH_MAX = 200
# What a jurisdiction's notices print beyond every profile's names, addresses and phones.
REQUIRED_BY_JURISDICTION: dict[str, tuple[tuple[str, str], ...]] = {
    "US": (("lender", "agency"), ("bureau", "score_range")),
    "CN": (("bureau", "objections"), ("bureau", "complaints")),
}
# Latin letters, plain or full-width: none may reach a Chinese notice from its contacts.
_LATIN = re.compile(r"[A-Za-z\uFF21-\uFF3A\uFF41-\uFF5A]")


def _one_line(value: str) -> str:
    if not value.strip() or has_refused_characters(value):
        raise ValueError("must be one line of printable text")
    return value


ContactText = Annotated[
    StrictStr, Field(min_length=1, max_length=CONTACT_TEXT_LENGTH_MAX), AfterValidator(_one_line)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LenderContact(_Strict):
    """The creditor a notice names (Reg B 1002.9(a)(2): its name and address)."""

    name: ContactText
    address: ContactText
    phone: ContactText
    # US: the federal agency that administers the creditor's compliance with ECOA, as Reg B
    # Appendix A names it for this kind of creditor.
    agency: ContactText | None = None


class BureauContact(_Strict):
    """The credit bureau whose report fed a decision (FCRA 615(a), CN-8, CCD Art. 18)."""

    name: ContactText
    address: ContactText
    phone: ContactText  # US: its toll-free number
    score_range: tuple[StrictInt, StrictInt] | None = None  # lowest and highest score
    objections: ContactText | None = None  # CN: where to object to credit-report data
    complaints: ContactText | None = None  # CN: where to complain about it

    @field_validator("score_range")
    @classmethod
    def _low_then_high(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError("is [lowest, highest], lowest at least 0 and below highest")
        return value


class Contacts(_Strict):
    """One profile's lender and bureau, as its notices print them."""

    lender: LenderContact
    bureau: BureauContact


def profile_contacts(
    profiles: Iterable[Profile], path: Path | None, *, development: bool
) -> dict[str, Contacts]:
    """Each profile's contacts, by profile id: from the file at `path`, or, in development
    without a file, the sample contacts of the profile's jurisdiction. A profile without
    complete contacts is refused (`ValueError` naming every problem)."""
    if path is not None:
        found, where = read_contacts(path), str(path)
    elif development:
        found, where = _demo_contacts(), "the demo contacts"
    else:
        raise ValueError("outside development set CREDITLINE_CONTACTS_FILE")
    chosen: dict[str, Contacts] = {}
    problems: list[str] = []
    for profile in profiles:
        key = profile.code if path is not None else profile.jurisdiction
        contacts = found.get(key)
        if contacts is None:
            problems.append(f"profile {profile.code}: no [{key}] contacts")
            continue
        problems += [f"profile {profile.code}: {p}" for p in contact_problems(profile, contacts)]
        chosen[profile.code] = contacts
    if problems:
        raise ValueError(f"contacts for notices in {where}: " + "; ".join(problems))
    return chosen


def contact_problems(profile: Profile, contacts: Contacts) -> list[str]:
    """What `profile`'s notices need and `contacts` lack (empty when they are complete)."""
    problems = [
        f"{part}.{field} is missing ({profile.jurisdiction} notices print it)"
        for part, field in REQUIRED_BY_JURISDICTION.get(profile.jurisdiction, ())
        if getattr(getattr(contacts, part), field) is None
    ]
    if profile.language == "zh-CN":
        problems += [
            f"{where} has Latin letters, which a Chinese notice would show"
            for where, text in _texts(contacts)
            if _LATIN.search(text)
        ]
    return problems


def read_contacts(path: Path) -> dict[str, Contacts]:
    """The contacts in a TOML file, by key (`ValueError` names the first problem)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"contacts file {path}: {error}") from None
    return _parsed(document, str(path))


def _parsed(document: dict[str, Any], where: str) -> dict[str, Contacts]:
    parsed: dict[str, Contacts] = {}
    for key, entry in document.items():
        try:
            parsed[key] = Contacts.model_validate(entry)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"contacts file {where}: {key}.{field}: {first['msg']}") from None
    return parsed


def _texts(contacts: Contacts) -> Iterable[tuple[str, str]]:
    for part in ("lender", "bureau"):
        for field, value in getattr(contacts, part).model_dump().items():
            if isinstance(value, str):
                yield f"{part}.{field}", value


@cache
def _demo_contacts() -> dict[str, Contacts]:
    text = resources.files("creditline.notices").joinpath("demo_contacts.toml").read_text("utf-8")
    return _parsed(tomllib.loads(text), "demo_contacts.toml")
