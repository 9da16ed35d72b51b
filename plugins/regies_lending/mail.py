"""E-mail notifications of lending, through a durable outbox: a new request to the resource's contact (on the
lender's node), a decision to the borrower's contact (on the borrower's node), queued in the node's database and
sent by a background task that retries with backoff, so a mail server that is down loses nothing.

Each node mails its own people only, from its own SMTP server, when a record of the other party reaches it
(`records_replicated`): the lender's node knows its resource's contact, the borrower's node its request's.
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
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from federation.plugin_api import appkeys, format_moment, utcnow
from federation.plugin_api.storage import node_meta

from .mail_settings import MailSettings
from .service import LendingReader

log = logging.getLogger(__name__)
# Queued messages live in node_meta under this prefix (one row each, the message as JSON): no table of its own, as
# a plugin has no migrations; a node has few of them at once.
OUTBOX_PREFIX = "lending.mail."


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


async def queue_notifications(node: Any, settings: MailSettings, documents: Iterable[Mapping[str, Any]]) -> int:
    """The e-mails the records just received from a peer call for, queued in one transaction."""
    # LendingReader reads the engine and store from an app mapping: here they come from the node.
    reader = LendingReader({appkeys.ENGINE: node.engine, appkeys.STORE: node.store})
    url = settings.public_url.rstrip("/")
    messages = []
    for document in documents:
        if document.get("deleted"):
            continue
        # A stored body has no kind field: a request names its lender, a decision its borrower.
        if "lender" in document and document["lender"] == reader.node_id and document.get("version") == 1:
            resource = await reader.resource(reader.node_id, document["resource"]["id"])
            mail = request_mail(document, resource, url) if resource else None
        elif "decision" in document and document.get("borrower") == reader.node_id and document.get("version") == 1:
            own = [loan for loan in await reader.loans() if loan.request["id"] == document["request"]["id"]]
            if not own:
                continue
            resource = await reader.resource(document["resource"]["origin"], document["resource"]["id"])
            name = resource["name"] if resource else document["resource"]["id"]
            mail = decision_mail(document, own[0].request, name, url)
        else:
            continue
        if mail is not None:
            messages.append(mail)
    if not messages:
        return 0
    async with node.engine.begin() as connection:
        return await enqueue(connection, messages)


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
    """The background task delivering the outbox (hookspecs.register_background_tasks)."""

    async def run(node: Any) -> None:
        while True:
            await deliver_due(node.engine, settings)
            await asyncio.sleep(settings.poll_s)

    return run
