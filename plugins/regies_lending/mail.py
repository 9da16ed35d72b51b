"""E-mail notifications of lending, through a durable outbox: a new request to the resource's contact (on the
lender's node), a decision to the borrower's contact (on the borrower's node).

What is durable, and why: the queue is derived from the records, not from an event. `queue_due` finds the loan
records that call for an e-mail (a request's first version addressed to this node, a decision's first version
addressed to it) and that carry no marker yet, and in one transaction writes a marker per record and queues the
messages; it reads only the records stored after its checkpoint (`SCANNED_FROM`), which that transaction moves.
The records' own transaction (a pull's page, a push's batch, the SQLite writer process's group of pages) runs no
plugin code, so a process killed after it commits leaves records without markers, and the next round
(`outbox_task`, every `poll_s`) queues their e-mails; `records_replicated` runs the same function so that mail goes
out at once in the usual case. A marker is a `node_meta` primary key: two processes or rounds at once insert it
with ON CONFLICT DO NOTHING, and only the one whose insert went in queues the message. A background task then
sends the queued messages with retries and backoff, so a mail server that is down loses nothing.

Each node mails its own people only, from its own SMTP server: the lender's node knows its resource's contact, the
borrower's node its request's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import smtplib
import uuid
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, cast, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.plugin_api import Node, appkeys, format_moment, utcnow
from federation.plugin_api.storage import insert_for, node_meta, records

from .mail_settings import MailSettings
from .service import DECISION, REQUEST, LendingReader

log = logging.getLogger(__name__)
# Queued messages live in node_meta under this prefix (one row each, the message as JSON): no table of its own, as
# a plugin has no migrations; a node has few of them at once.
OUTBOX_PREFIX = "lending.mail."
# One row per loan record whose e-mail was queued (or that called for none, having no address to write to), keyed
# by a digest of the record's identity: node_meta keys hold 64 characters, and a node id alone may take 64.
MARKER_PREFIX = "lending.mailed."
_MARKER_NAMESPACE = uuid.UUID("0d4b3c52-7a5e-4f0e-8c61-2b9e5f3a7d18")
# The scan's checkpoint: the highest `records.rid` it has dealt with, so that a round reads only the loan records
# stored since. Its first run on a node (the first round, as the node starts) sets it to the highest rid stored then:
# records stored before (by a version that queued e-mails from the hook alone, or with notifications off) are never
# mailed, so an upgrade does not mail every old loan again. A record that a pull or push commits in the instant
# between the upgraded node's start and that first round counts as old too: nothing tells it apart from a late
# duplicate of an old one. Later rounds move it forward in the transaction that writes their markers.
SCANNED_FROM = "lending.mailed.from"
_LOAN_KINDS = (REQUEST, DECISION)
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a NOWAIT lock that another transaction holds


def _message(to: str, subject: str, body: str) -> dict[str, Any]:
    return {"to": to, "subject": subject, "body": body, "attempts": 0, "next_at": utcnow().isoformat()}


def _link(url: str, path: str) -> str:
    return f" : {url}{path}" if url else "."


def _when(value: str) -> str:
    return format_moment(value, "fr")


def request_mail(request: Mapping[str, Any], resource: Mapping[str, Any], url: str) -> dict[str, Any] | None:
    """To the resource's contact: a régie asks to borrow it."""
    to = (resource.get("contact") or {}).get("email")
    if not to:
        return None
    contact = request.get("contact", {})
    reach = " ".join(str(contact[key]) for key in ("person", "email", "phone") if contact.get(key))
    body = (
        f"Bonjour,\n\nLa régie {request['origin']} demande à emprunter « {resource['name']} » "
        f"du {_when(request['start'])} au {_when(request['end'])} (quantité {request['quantity']}).\n"
        f"Objet : {request['purpose']}\nContact : {reach}\n"
        f"Assurance : {request['insurance']['insurer']}, contrat {request['insurance']['policy_number']}\n\n"
        f"Acceptez ou refusez la demande dans le back-office, page « Prêts reçus »{_link(url, '/lending')}\n"
    )
    return _message(to, f"Demande de prêt : {resource['name']}", body)


def decision_mail(
    decision: Mapping[str, Any], request: Mapping[str, Any], name: str, url: str
) -> dict[str, Any] | None:
    """To the borrower's contact: the lender accepted or declined its request."""
    to = (request.get("contact") or {}).get("email")
    if not to:
        return None
    accepted = decision["decision"] == "accepted"
    verdict = "acceptée" if accepted else "refusée"
    lines = [
        "Bonjour,",
        "",
        f"La régie {decision['origin']} a {'accepté' if accepted else 'refusé'} votre demande de prêt de « {name} » "
        f"du {_when(request['start'])} au {_when(request['end'])}.",
    ]
    if decision.get("deposit_eur") is not None:
        lines.append(f"Caution demandée : {decision['deposit_eur']:g} €")
    if decision.get("pickup_instructions"):
        lines.append(f"Consignes de retrait : {decision['pickup_instructions']}")
    if decision.get("comment"):
        lines.append(f"Commentaire : {decision['comment']}")
    if decision.get("proposed_start"):
        lines.append(
            f"Autres dates proposées : du {_when(decision['proposed_start'])} au {_when(decision['proposed_end'])}"
        )
    lines += [
        "",
        f"Vos demandes sont dans le back-office, page « Nos demandes de prêt »{_link(url, '/lending/requests')}",
    ]
    return _message(to, f"Demande de prêt {verdict} : {name}", "\n".join(lines) + "\n")


async def enqueue(connection: AsyncConnection, messages: Iterable[dict[str, Any]]) -> int:
    """Queue `messages` on `connection` (in the caller's transaction)."""
    rows = [{"key": OUTBOX_PREFIX + uuid.uuid4().hex, "value": json.dumps(m, ensure_ascii=False)} for m in messages]
    if rows:
        await connection.execute(insert(node_meta), rows)
    return len(rows)


def marker_key(kind: str, origin: str, record_id: str) -> str:
    """The node_meta key saying that record `(origin, record_id)` of `kind` was dealt with."""
    return MARKER_PREFIX + uuid.uuid5(_MARKER_NAMESPACE, f"{kind}/{origin}/{record_id}").hex


async def _insert_new(connection: AsyncConnection, rows: list[dict[str, str]]) -> set[str]:
    """Insert node_meta rows, skipping keys already there (another process's or round's); the keys inserted."""
    if not rows:
        return set()
    statement: Any = insert_for(connection.dialect.name, node_meta)
    inserted = await connection.execute(statement.values(rows).on_conflict_do_nothing().returning(node_meta.c.key))
    return set(inserted.scalars())


async def scanned_from(engine: AsyncEngine) -> int:
    """The rid after which loan records are the scan's to mail, set by its first run to the records stored then."""
    async with engine.connect() as connection:
        value = await connection.scalar(select(node_meta.c.value).where(node_meta.c.key == SCANNED_FROM))
    if value is not None:
        return int(value)
    async with engine.begin() as connection:
        since = await connection.scalar(select(func.max(records.c.rid))) or 0
        # Two first runs at once: the first insert wins and both read its value.
        await _insert_new(connection, [{"key": SCANNED_FROM, "value": str(since)}])
        stored = await connection.execute(select(node_meta.c.value).where(node_meta.c.key == SCANNED_FROM))
        return int(stored.scalar_one())


async def _mail_for(
    node: Node, reader: LendingReader, kind: str, document: Mapping[str, Any], url: str
) -> dict[str, Any] | None:
    """The e-mail a loan record addressed to this node calls for, if it has somebody to write to."""
    if kind == REQUEST:
        resource = await reader.resource(node.node_id, document["resource"]["id"])
        return request_mail(document, resource, url) if resource else None
    own = [loan.request for loan in await reader.loans() if loan.key == (node.node_id, document["request"]["id"])]
    if not own:
        return None
    resource = await reader.resource(document["resource"]["origin"], document["resource"]["id"])
    name = resource["name"] if resource else document["resource"]["id"]
    return decision_mail(document, own[0], name, url)


class _Due(NamedTuple):
    kind: str
    origin: str
    id: str
    document: dict[str, Any]


class _Scan(NamedTuple):
    """What a round found: the records due, by marker key, and the rid the checkpoint may move to (None: stay)."""

    due: dict[str, _Due]
    settled: int | None


async def _writers_held_off(connection: AsyncConnection) -> bool:
    """Whether no transaction can still commit a record with a rid below those this one will read.

    SQLite has one writer, which numbers its rows after every committed one: always. On PostgreSQL a replica write
    takes its rid from a sequence and may commit after a higher rid (two pulls, a pull and a push): a SHARE lock
    taken at once (NOWAIT) proves no writer of `records` is in flight and keeps new ones out until this transaction
    ends; when a writer holds the table, the round reads without it and leaves the checkpoint where it is."""
    if connection.dialect.name != "postgresql":
        return True
    try:
        await connection.execute(text("LOCK TABLE records IN SHARE MODE NOWAIT"))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        await connection.rollback()
        return False
    return True


async def _unmarked(engine: AsyncEngine, me: str, since: int) -> _Scan:
    """The loan records stored after rid `since` that call for an e-mail and have no marker yet, by marker key, and
    the highest rid read when every record up to it was visible."""
    async with engine.connect() as connection:
        settled = await _writers_held_off(connection)
        # Every loan record past the checkpoint, in one statement (one snapshot): its highest rid is the new
        # checkpoint, and the index on (kind, rid) reads the new rows only.
        seen = (
            await connection.execute(
                select(
                    records.c.rid,
                    records.c.kind,
                    records.c.origin,
                    records.c.id,
                    records.c.version,
                    records.c.deleted,
                    records.c.audience,
                ).where(records.c.kind.in_(_LOAN_KINDS), records.c.rid > since)
            )
        ).all()
        await connection.rollback()  # ends the lock at once: the rest reads rows already seen
        highest = max((row.rid for row in seen), default=None)
        candidates = [
            row
            for row in seen
            # A first version (a later one changes a state or a decision, which nobody is mailed about), live,
            # addressed to this node (a request's lender, a decision's borrower) by the other party.
            if row.version == 1 and not row.deleted and row.audience == me and row.origin != me
        ]
        keys = {row.rid: marker_key(row.kind, row.origin, row.id) for row in candidates}
        marked = set()
        if keys:
            query = select(node_meta.c.key).where(node_meta.c.key.in_(list(keys.values())))
            marked = set((await connection.execute(query)).scalars())
        due = [row for row in candidates if keys[row.rid] not in marked]
        bodies = {}
        if due:
            # Bodies only of the records still to mail.
            query = select(records.c.rid, records.c.body).where(records.c.rid.in_([row.rid for row in due]))
            bodies = {rid: body for rid, body in await connection.execute(query)}
    return _Scan(
        {keys[row.rid]: _Due(row.kind, row.origin, row.id, json.loads(bodies[row.rid])) for row in due},
        highest if settled else None,
    )


async def _advance(connection: AsyncConnection, rid: int) -> None:
    """Move the checkpoint to `rid`, never back (a round that read less, running at the same time, may end later)."""
    await connection.execute(
        update(node_meta)
        .where(node_meta.c.key == SCANNED_FROM, cast(node_meta.c.value, BigInteger) < rid)
        .values(value=str(rid))
    )


async def queue_due(node: Node, settings: MailSettings) -> int:
    """Queue the e-mails of the loan records stored since the checkpoint that call for one and have no marker yet,
    each with its marker, and move the checkpoint past them, in one transaction; how many were queued."""
    engine = node.engine
    scan = await _unmarked(engine, node.node_id, await scanned_from(engine))
    if not scan.due and scan.settled is None:
        return 0
    reader = LendingReader({appkeys.ENGINE: engine, appkeys.STORE: node.store})
    url = settings.public_url.rstrip("/")
    mails = {key: await _mail_for(node, reader, record.kind, record.document, url) for key, record in scan.due.items()}
    # The value says which record the key stands for (the key is a digest) and whether it had an e-mail.
    markers = [
        {
            "key": key,
            "value": json.dumps(
                {"kind": record.kind, "origin": record.origin, "id": record.id, "mailed": mails[key] is not None}
            ),
        }
        for key, record in scan.due.items()
    ]
    async with engine.begin() as connection:
        # Only the markers this transaction inserted carry their e-mail: a marker already there (another process,
        # a round running at the same time) means that e-mail is queued already.
        won = await _insert_new(connection, markers)
        if scan.settled is not None:
            await _advance(connection, scan.settled)
        return await enqueue(connection, [mail for key, mail in mails.items() if key in won and mail is not None])


def _send(settings: MailSettings, message: Mapping[str, Any]) -> None:
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = message["to"]
    mail["Subject"] = message["subject"]
    mail.set_content(message["body"])
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as client:
        if settings.smtp_starttls:
            client.starttls()
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password)
        client.send_message(mail)


async def deliver_due(engine: Any, settings: MailSettings) -> tuple[int, int]:
    """Send every queued message whose time has come; (sent, failed). A sent message leaves the outbox; a failed
    one waits twice as long as the last time (retry_first_s, doubling, at most retry_max_s)."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(node_meta).where(node_meta.c.key.like(OUTBOX_PREFIX + "%")))).all()
    now = utcnow()
    sent = failed = 0
    for row in rows:
        message = json.loads(row.value)
        if dt.datetime.fromisoformat(message["next_at"]) > now:
            continue
        try:
            await asyncio.to_thread(_send, settings, message)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            message["attempts"] += 1
            wait = min(settings.retry_max_s, settings.retry_first_s * 2 ** (message["attempts"] - 1))
            message["next_at"] = (utcnow() + dt.timedelta(seconds=wait)).isoformat()
            message["last_error"] = str(exc)[:200]
            async with engine.begin() as connection:
                await connection.execute(
                    update(node_meta).where(node_meta.c.key == row.key).values(value=json.dumps(message))
                )
            log.warning("lending e-mail to %s not sent (attempt %d): %s", message["to"], message["attempts"], exc)
            continue
        sent += 1
        async with engine.begin() as connection:
            await connection.execute(delete(node_meta).where(node_meta.c.key == row.key))
    return sent, failed


def outbox_task(settings: MailSettings) -> Any:
    """The background task queueing what is due and delivering the outbox (hookspecs.register_background_tasks)."""

    async def run(node: Node) -> None:
        while True:
            # The safety net: records whose hook never ran (a crash right after their commit) are queued here.
            await queue_due(node, settings)
            await deliver_due(node.engine, settings)
            await asyncio.sleep(settings.poll_s)

    return run
