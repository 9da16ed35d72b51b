"""The coordinators' pages about members under /hub: enrolment approvals and rejections, revocations, labels."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import Problem
from federation.plugin_api.web import N_, WebUser, render, translate

from . import enrolment, labels
from .aggregates import Scope
from .coordination import MAX_COMMENT, decide_enrolment, regional_only, revoke_membership
from .web_common import area_name, coordinator, form_comment, hub_engine

ENROLMENTS_PER_PAGE = 25


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 100_000 else 1


async def _enrolments_page(
    request: web.Request, user: WebUser, error: str | None = None, status: int = 200
) -> web.StreamResponse:
    """Pending requests a page at a time (oldest first), then the latest decisions."""
    engine, region, page = hub_engine(request), regional_only(user), _page_number(request)
    pending = await enrolment.list_enrolments(engine, "pending", region)
    start = (page - 1) * ENROLMENTS_PER_PAGE
    shown = pending[start : start + ENROLMENTS_PER_PAGE]
    decided = [item for item in await enrolment.list_enrolments(engine, None, region) if item.state != "pending"]

    def described(items: list[enrolment.Enrolment]) -> list[dict[str, Any]]:
        return [{**item.describe(), "region_name": area_name(Scope("national"), item.region)} for item in items]

    context = {
        "pending": described(shown),
        "pending_total": len(pending),
        "page": page,
        "pages": max(1, -(-len(pending) // ENROLMENTS_PER_PAGE)),
        "decided": described(decided[-ENROLMENTS_PER_PAGE:][::-1]),
        "members": await _member_labels(engine, region),
        "may_grant": user.role in labels.GRANTING_ROLES,
        "label_statuses": labels.STATUSES,
        "error": error,
        "done": request.query.get("done"),
        "max_comment": MAX_COMMENT,
    }
    return await render(request, "hub/enrolments.html", context, status=status)


async def _member_labels(engine: AsyncEngine, region: str | None) -> list[dict[str, Any]]:
    """Approved members with the label the hub granted them and the one they claim."""
    granted = await labels.grants(engine)
    return [
        {"node_id": m.node_id, "name": m.name, **labels.member_label(granted.get(m.node_id), m.label_status)}
        for m in await enrolment.list_enrolments(engine, "approved", region)
    ]


async def grant_label(request: web.Request) -> web.StreamResponse:
    """A national coordinator records a member's label from the enrolments page."""
    user = await coordinator(request)
    labels.require_grantor(user.role)
    form = await request.post()
    statement = {key: str(form.get(key, "")).strip() for key in labels.FIELDS}
    granting = labels.grant_label(
        hub_engine(request), user.role, user.username, request.match_info["node_id"], statement
    )
    invalid = N_("Give the label's status and, for a granted label, the day it was granted.")
    return await _member_action(request, user, granting, invalid, "labelled")


async def _member_action(
    request: web.Request, user: WebUser, action: Awaitable[Any], invalid: str, done: str
) -> web.StreamResponse:
    """Run a decision on a member from the enrolments page: back to the page with the French `invalid` message on
    a 422, to the page with its `done` notice otherwise."""
    try:
        await action
    except Problem as problem:
        if problem.status != 422:
            raise
        return await _enrolments_page(request, user, error=translate(request, invalid), status=422)
    raise web.HTTPSeeOther(f"/hub/enrolments?done={done}")


async def enrolments_page(request: web.Request) -> web.StreamResponse:
    return await _enrolments_page(request, await coordinator(request))


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    user = await coordinator(request)
    read_comment = await form_comment(request)
    form = await request.post()
    typed = [str(value) for value in form.getall("fingerprint", [])][: enrolment.MAX_KEYS]

    async def read_fingerprints() -> list[str]:
        return typed

    try:
        await decide_enrolment(
            hub_engine(request), user, user.username, request.match_info["id"], approve, read_comment, read_fingerprints
        )
    except Problem as problem:
        if problem.status != 422:
            raise
        if approve:
            message = translate(
                request, "The fingerprint does not match the request's key: compare it again with the régie's operator."
            )
        else:
            message = translate(request, "Say why the request is rejected.")
        return await _enrolments_page(request, user, error=message, status=422)
    raise web.HTTPSeeOther(f"/hub/enrolments?done={'approved' if approve else 'rejected'}")


async def revoke_member(request: web.Request) -> web.StreamResponse:
    """A coordinator revokes a member from the enrolments page, saying why."""
    user = await coordinator(request)
    read_reason = await form_comment(request)
    revoking = revoke_membership(hub_engine(request), user, user.username, request.match_info["node_id"], read_reason)
    return await _member_action(request, user, revoking, N_("Say why the member is revoked."), "revoked")


async def approve_enrolment(request: web.Request) -> web.StreamResponse:
    return await _decide(request, True)


async def reject_enrolment(request: web.Request) -> web.StreamResponse:
    return await _decide(request, False)
