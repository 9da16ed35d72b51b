"""Back-office page of the régie's profile (who it is, its contact), shown on the public page and in the API."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from federation import appkeys
from federation.api.records import write_or_problem
from federation.problems import Problem
from federation.schema.records import RECORD_KINDS
from federation.web import data, logo
from federation.web.admin.records import COMMUNE_FIELD, CONTACT_FIELDS, QPV_FIELD, editable_data
from federation.web.auth import require_user
from federation.web.forms import (
    SELECT,
    TEXTAREA,
    FormField,
    FormState,
    payload_from_form,
    values_from_form,
    values_from_record,
)
from federation.web.i18n_request import translate
from federation.web.labels import N_
from federation.web.rendering import render
from federation.web.users import NODE_ROLES
from federation.web.validation import add_problem

NODE = RECORD_KINDS["node"]
PATH = "/admin/profile"
LOGO_PATH = PATH + "/logo"
PROFILE_FIELDS = (
    FormField("name", N_("Name"), required=True, max_length=200),
    FormField(
        "kind",
        N_("Kind"),
        SELECT,
        required=True,
        choices=(("quartier", N_("Régie de quartier (urban)")), ("territoire", N_("Régie de territoire (rural)"))),
    ),
    FormField(
        "label_status",
        N_("Label"),
        SELECT,
        required=True,
        choices=(("en_projet", N_("Labelling in progress")), ("labellisee", N_("Labelled by the network"))),
    ),
    FormField("description", N_("Description"), TEXTAREA),
    FormField("siret", N_("SIRET"), hint=N_("14 digits")),
    FormField("rna", N_("RNA"), hint=N_("W and 9 characters")),
    FormField("address.street", N_("Street"), max_length=300),
    FormField("address.postal_code", N_("Postal code"), max_length=5),
    FormField("address.city", N_("City"), max_length=200),
    # The activity form's place fields, at the top level of a profile.
    replace(COMMUNE_FIELD, name="commune"),
    replace(QPV_FIELD, name="qpv"),
    *CONTACT_FIELDS,
    FormField("website", N_("Website")),
)


async def profile(request: web.Request) -> web.StreamResponse:
    user = await require_user(request, NODE_ROLES)
    document = await data.node_profile(request)
    fields = list(PROFILE_FIELDS)
    if request.method == "GET":
        return await _page(request, _stored_state(document), document, request.query.get("done"))
    form = await request.post()
    state = FormState(fields, values=values_from_form(fields, form))
    base = {
        key: value
        for key, value in editable_data(document, NODE).items()
        if key not in ("department", "region", "siren")
    }
    payload = payload_from_form(fields, state.values, base)
    version = str(form.get("version", ""))
    store = request.config_dict[appkeys.STORE]
    if_match = int(version) if version.isdigit() else None
    profile_id = request.config_dict[appkeys.PROFILE_ID]
    try:
        await write_or_problem(store.replace("node", profile_id, payload, f"web:{user.username}", if_match=if_match))
    except Problem as problem:
        add_problem(request, state, problem)
        return await _page(request, state, document, None, status=422)
    raise web.HTTPSeeOther(PATH + "?done=updated")


async def upload_logo(request: web.Request) -> web.StreamResponse:
    """Store the uploaded logo (PNG, JPEG or WebP), or remove it; a refused file leaves the current logo as it was."""
    try:
        await require_user(request, NODE_ROLES)  # also reads the form for its CSRF token
    except web.HTTPRequestEntityTooLarge:
        # Past the node's body limit the form cannot be read; the user is logged in and nothing changes.
        return await _logo_refused(request, logo.TOO_LARGE, status=413)
    form = await request.post()
    if form.get("remove"):
        await logo.remove(request)
        raise web.HTTPSeeOther(PATH + "?done=logo-removed")
    upload = form.get("logo")
    content = upload.file.read(logo.MAX_BYTES + 1) if isinstance(upload, web.FileField) else b""
    try:
        logo.check_upload(content)
    except logo.LogoRefused as refused:
        return await _logo_refused(request, str(refused), status=422)
    await logo.save(request, content)
    raise web.HTTPSeeOther(PATH + "?done=logo")


async def _logo_refused(request: web.Request, message: str, *, status: int) -> web.Response:
    document = await data.node_profile(request)
    return await _page(
        request, _stored_state(document), document, None, status=status, logo_error=translate(request, message)
    )


def _stored_state(document: dict[str, Any]) -> FormState:
    """The profile form showing what is stored."""
    fields = list(PROFILE_FIELDS)
    return FormState(fields, values=values_from_record(fields, document))


async def _page(
    request: web.Request,
    state: FormState,
    document: dict[str, Any],
    done: str | None,
    *,
    status: int = 200,
    logo_error: str | None = None,
) -> web.Response:
    context = {
        "logo_version": logo.version(request),
        "logo_path": LOGO_PATH,
        "logo_error": logo_error,
        "logo_max_kb": logo.MAX_BYTES // 1024,
        "state": state,
        "record": document,
        "path": PATH,
        "page_title": N_("Profile of the régie"),
        "kind": "node",
        "service_type": None,
        "done": done,
    }
    return await render(request, "admin/profile.html", context, status=status)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, profile, allow_head=False)
    app.router.add_post(PATH, profile)
    app.router.add_post(LOGO_PATH, upload_logo)
