"""Notices as a borrower reads them: composed in their language, kept in their inbox.

`compose` is the one place a notice's text is made, for the inbox, e-mail and the webhook
alike: the kind from the message, the line as the change left it (or as it is now), the
jurisdiction of the line's currency with the lender and bureau its profile names, the
borrower's language (their preference, else the profile's) and, for a decision, the evidence it
kept (US-4: the consumer report that fed it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.commands import CommandResult, Commands
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import Clock
from creditline.kernel.errors import DomainError, InvalidInput, LineNotFound, NotFound
from creditline.kernel.ids import is_id
from creditline.kernel.invariant import fail
from creditline.kernel.permissions import Permission, require
from creditline.ledger.ports import line_document
from creditline.ledger.service import LedgerService
from creditline.loans.products import Catalogue
from creditline.notices.catalog import LANGUAGES, is_notice, kind_of
from creditline.notices.channels import Message
from creditline.notices.contacts import Contacts
from creditline.notices.render import Jurisdiction, Rendered, Renderer
from creditline.notices.tables import deliveries, inbox, outbox, preferences

NOTICE_READER = Actor("notices", Role.SERVICE)
INBOX_LISTED_MAX = 200
EMAIL_LENGTH_MAX = 254


class NoticeNotFound(NotFound):
    code = "notice_not_found"


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What a batch's e-mails are composed from, read once for the whole batch."""

    preferences: dict[str, tuple[str | None, str | None]]  # by borrower: address, language
    evidence: dict[str, dict[str, Any] | None]  # by decision id: what the decision kept
    lines: dict[str, dict[str, Any]]  # by id: the lines that payloads do not carry


class NoticeService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        commands: Commands,
        ledger: LedgerService,
        catalogue: Catalogue,
        renderer: Renderer,
        contacts: Mapping[str, Contacts],
    ) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._ledger = ledger
        self._catalogue = catalogue
        self._renderer = renderer
        self._contacts = contacts  # by profile id: who each profile's notices name
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        upsert = insert(preferences)
        self._preferences_upsert = db.prepare(
            upsert.on_conflict_do_update(
                index_elements=[preferences.c.borrower_id],
                set_={
                    "email": upsert.excluded.email,
                    "language": upsert.excluded.language,
                    "updated_at": upsert.excluded.updated_at,
                },
            )
        )
        self._read_at = db.prepare(
            select(inbox.c.read_at).where(
                inbox.c.notice_id == bindparam("id"),
                inbox.c.borrower_id == bindparam("borrower_id"),
            )
        )
        self._mark_read = db.prepare(
            update(inbox)
            .where(
                inbox.c.notice_id == bindparam("id"),
                inbox.c.borrower_id == bindparam("borrower_id"),
                inbox.c.read_at.is_(None),
            )
            .values(read_at=bindparam("read_at"))
        )

    # --- composing --------------------------------------------------------------------------
    def compose(self, message: Message, language: str | None = None) -> Rendered:
        """The notice's subject and body in `language` (default: the borrower's)."""
        payload = message.payload
        line = payload.get("line") or line_document(
            self._ledger.line(NOTICE_READER, message.line_id)
        )
        evidence = None
        if "decision" in payload:
            decision_id = payload["decision"]["id"]
            try:
                evidence = self._ledger.stored_decision(NOTICE_READER, decision_id).evidence
            except NotFound:
                evidence = None
        chosen = language or self.preferences_of(message.borrower_id).get("language")
        return self._render(message, line, evidence, chosen)

    def mail_facts(self, messages: Collection[Message]) -> MailFacts:
        """What a batch's e-mails are composed from, in one read: its borrowers' addresses and
        languages, its decisions' evidence, the lines its payloads do not carry."""
        borrowers = sorted({message.borrower_id for message in messages})
        decision_ids = sorted(
            {m.payload["decision"]["id"] for m in messages if "decision" in m.payload}
        )
        line_ids = sorted({m.line_id for m in messages if not m.payload.get("line")})

        def read(tx: Transaction) -> MailFacts:
            chosen = tx.connection.execute(
                select(
                    preferences.c.borrower_id, preferences.c.email, preferences.c.language
                ).where(preferences.c.borrower_id.in_(borrowers))
            ).all()
            lines = {}
            for line_id in line_ids:  # only notices written without their line
                line = self._ledger.port.visible(tx, NOTICE_READER, line_id)
                if line is not None:
                    lines[line_id] = line_document(line)
            return MailFacts(
                {borrower: (address, language) for borrower, address, language in chosen},
                self._ledger.port.evidence_of(tx, decision_ids),
                lines,
            )

        return self._db.read(read)

    def mail(self, message: Message, facts: MailFacts) -> tuple[str, Rendered] | None:
        """The message's e-mail from its batch's `facts`: the borrower's address and the notice
        in their language, as `compose` makes it (None: they gave no address)."""
        address, language = facts.preferences.get(message.borrower_id, (None, None))
        if not address:
            return None
        line = message.payload.get("line") or facts.lines.get(message.line_id)
        if line is None:
            raise LineNotFound("no such line", line_id=message.line_id)
        decision = message.payload.get("decision")
        evidence = None if decision is None else facts.evidence.get(decision["id"])
        return address, self._render(message, line, evidence, language)

    def _render(
        self,
        message: Message,
        line: dict[str, Any],
        evidence: dict[str, Any] | None,
        language: str | None,
    ) -> Rendered:
        """The notice in `language`, else its profile's."""
        return self._renderer.render(
            kind_of(message.topic, message.payload),
            language or self._profile_language(line["currency"]),
            line=line,
            payload=message.payload,
            jurisdiction=self.jurisdiction(line["currency"]),
            evidence=evidence,
        )

    def jurisdiction(self, currency: str) -> Jurisdiction:
        """The notices' jurisdiction for lines in `currency`, with its profile's contacts."""
        try:
            profile = self._catalogue.profile_for(currency)
        except DomainError:  # a currency with no product: notices still go out, plainly
            return Jurisdiction("other", ZoneInfo("UTC"), 15)
        return Jurisdiction(
            profile.jurisdiction,
            profile.timezone,
            profile.review_days,
            self._contacts[profile.code],
        )

    def _profile_language(self, currency: str) -> str:
        try:
            return self._catalogue.profile_for(currency).language
        except DomainError:
            return "en"

    # --- the inbox --------------------------------------------------------------------------
    def inbox(
        self,
        actor: Actor,
        language: str | None = None,
        unread_only: bool = False,
        limit: int = 50,
    ) -> dict[str, Any]:
        """The borrower's notices, newest first, each composed in their language."""
        _borrower_only(actor)
        if language is not None and language not in LANGUAGES:
            raise InvalidInput(f"lang must be one of {', '.join(LANGUAGES)}")
        if not 1 <= limit <= INBOX_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{INBOX_LISTED_MAX}")
        query = select(inbox).where(inbox.c.borrower_id == actor.subject)
        if unread_only:
            query = query.where(inbox.c.read_at.is_(None))
        with self._db.reading() as connection:
            rows = list(
                connection.execute(
                    query.order_by(inbox.c.created_at.desc(), inbox.c.notice_id.desc()).limit(limit)
                ).mappings()
            )
        notices = []
        for row in rows:
            message = _message(row)
            rendered = self.compose(message, language)
            read_at = Transaction.read_time(row["read_at"])
            notices.append(
                {
                    "id": message.id,
                    "kind": rendered.kind.value,
                    "line_id": message.line_id,
                    "language": rendered.language,
                    "subject": rendered.subject,
                    "body": rendered.body,
                    "created_at": message.created_at.isoformat(),
                    "read_at": None if read_at is None else read_at.isoformat(),
                }
            )
        return {"notices": notices}

    def line_notices(
        self, actor: Actor, line_id: str, language: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """What the borrower of a line was told, newest first, and how each notice went out:
        the channels that took it, or the attempts and the last error (staff)."""
        require(actor, Permission.READ_STAFF_VIEWS)
        if not 1 <= limit <= INBOX_LISTED_MAX:
            raise InvalidInput(f"limit must be 1–{INBOX_LISTED_MAX}")
        line = self._ledger.line(actor, line_id)
        listed = select(outbox, outbox.c.id.label("notice_id")).where(outbox.c.line_id == line.id)
        with self._db.reading() as connection:
            rows = list(
                connection.execute(
                    listed.order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(limit)
                ).mappings()
            )
            sent = connection.execute(
                select(deliveries).where(deliveries.c.notice_id.in_([r["id"] for r in rows]))
            ).mappings()
            channels: dict[str, list[dict[str, Any]]] = {}
            for delivery in sent:
                at = Transaction.read_time(delivery["delivered_at"])
                channels.setdefault(delivery["notice_id"], []).append(
                    {
                        "channel": delivery["channel"],
                        "delivered_at": None if at is None else at.isoformat(),
                        "detail": delivery["detail"],
                    }
                )
        notices = []
        for row in rows:
            message = _message(row)
            # An event for the lender's systems (webhook only) has no words for the borrower.
            notice = is_notice(message.topic)
            subject = self.compose(message, language).subject if notice else message.topic
            dead_at = Transaction.read_time(row["dead_at"])
            notices.append(
                {
                    "id": row["id"],
                    "topic": row["topic"],
                    "subject": subject,
                    "created_at": message.created_at.isoformat(),
                    "status": _delivery_status(dead_at, row["delivered_at"]),
                    "attempts": row["attempts"],
                    "last_error": row["last_error"],
                    "deliveries": sorted(channels.get(row["id"], []), key=lambda d: d["channel"]),
                }
            )
        return {"line_id": line.id, "notices": notices}

    def mark_read(self, actor: Actor, key: str, notice_id: str) -> CommandResult:
        """Mark one of the borrower's notices read (reading it twice changes nothing)."""
        _borrower_only(actor)
        request: dict[str, Any] = {"op": "mark_read", "notice_id": notice_id}

        def work(tx: Transaction) -> dict[str, Any]:
            owner = {"id": notice_id, "borrower_id": actor.subject}
            tx.execute(self._mark_read, {**owner, "read_at": tx.time(self._clock.now())})
            found = tx.one(self._read_at, owner) if is_id(notice_id) else None
            if found is None:
                raise NoticeNotFound("no such notice", notice_id=notice_id)
            read_at = Transaction.read_time(found[0]) or fail("a read notice has its time")
            return {"id": notice_id, "read_at": read_at.isoformat()}

        return self._commands.run(actor, key, request, work, lambda document: document)

    # --- preferences ------------------------------------------------------------------------
    def preferences_of(self, borrower_id: str) -> dict[str, Any]:
        """A borrower's e-mail address and language (none set: nulls)."""
        with self._db.reading() as connection:
            row = (
                connection.execute(
                    select(preferences).where(preferences.c.borrower_id == borrower_id)
                )
                .mappings()
                .first()
            )
        return {"email": None, "language": None} if row is None else dict(row)

    def my_preferences(self, actor: Actor) -> dict[str, Any]:
        """The caller's own preferences (borrowers only)."""
        _borrower_only(actor)
        found = self.preferences_of(actor.subject)
        return {
            "borrower_id": actor.subject,
            "email": found["email"],
            "language": found["language"],
        }

    def set_preferences(
        self, actor: Actor, email: str | None, language: str | None
    ) -> dict[str, Any]:
        """Where and in which language the borrower hears from the lender."""
        _borrower_only(actor)
        if language is not None and language not in LANGUAGES:
            raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
        if email is not None and (
            len(email) > EMAIL_LENGTH_MAX
            or email.count("@") != 1
            # No space, line break or control character: the address goes into a mail header,
            # where a line break is refused at every delivery (a dead letter, not an e-mail).
            or not email.isprintable()
            or any(ch.isspace() for ch in email)
            # ASCII only: the SMTP client does not negotiate SMTPUTF8.
            or not email.isascii()
        ):
            raise InvalidInput("email is not an e-mail address")
        now = self._clock.now()
        self._db.run(
            lambda tx: tx.execute(
                self._preferences_upsert,
                {
                    "borrower_id": actor.subject,
                    "email": email,
                    "language": language,
                    "updated_at": tx.time(now),
                },
            )
        )
        return {"borrower_id": actor.subject, "email": email, "language": language}


def _borrower_only(actor: Actor) -> None:
    require(actor, Permission.USE_INBOX)


def _message(row: Any) -> Message:
    created = Transaction.read_time(row["created_at"]) or fail("a notice has its time")
    return Message(
        id=row["notice_id"],
        topic=row["topic"],
        line_id=row["line_id"],
        borrower_id=row["borrower_id"],
        ref_id=row["notice_id"],  # what it is about is in the payload
        payload=json.loads(row["payload"]),
        created_at=created.astimezone(UTC),
        attempts=0,
    )


def _delivery_status(dead_at: object, delivered_at: object) -> str:
    """Where an outbox message stands: given up, delivered or still to go."""
    return "dead" if dead_at else "delivered" if delivered_at else "queued"
