"""Back-office pages to list, create, edit and delete the régie's activities and shared resources.

Writes take the API's path, the record service: the same validation (schema, service type details, plugins'
`validate_record`), the same store (version bump and change-log entry in one transaction), the same
`record_committed` notification. Replicated records of other régies are never editable here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from federation import appkeys
from federation.api.records import write_or_problem
from federation.problems import Problem
from federation.registrations import ServiceType
from federation.schema.records import (
    ENVELOPE_FIELDS,
    RECORD_KINDS,
    ActivityStatus,
    Borrower,
    RecordKind,
    ResourceKind,
    ResourceStatus,
)
from federation.schema.types import Category
from federation.storage.records import StoredRecord
from federation.web import data, labels
from federation.web.auth import require_user
from federation.web.forms import (
    CHECKBOXES,
    CODES,
    DATE,
    INTEGER,
    LINES,
    SELECT,
    TEXTAREA,
    FormField,
    FormState,
    model_fields,
    payload_from_form,
    values_from_form,
    values_from_record,
)
from federation.web.i18n_request import language, translate
from federation.web.labels import N_
from federation.web.rendering import category_label, render
from federation.web.users import NODE_ROLES, WebUser
from federation.web.validation import add_problem

COMMUNE_FIELD = FormField(
    "place.commune", N_("INSEE commune code"), hint=N_("5 characters, e.g. 93066 (not the postal code)"), max_length=5
)
QPV_FIELD = FormField(
    "place.qpv", N_("Priority neighbourhoods (QPV)"), CODES, hint=N_("QPV codes separated by spaces, e.g. QP093001")
)
CONTACT_FIELDS = (
    FormField("contact.person", N_("Contact person"), max_length=200),
    FormField("contact.email", N_("Contact email")),
    FormField("contact.phone", N_("Contact phone")),
)
_PLACE_FIELDS = (COMMUNE_FIELD, FormField("place.address", N_("Address"), max_length=300))
ACTIVITY_FIELDS = (
    FormField("title", N_("Title"), required=True, max_length=200),
    FormField("description", N_("Description"), TEXTAREA),
    FormField("status", N_("Status"), SELECT, choices=tuple(labels.ACTIVITY_STATUSES.items())),
    FormField("start_date", N_("Start date"), DATE),
    FormField("end_date", N_("End date"), DATE),
    *_PLACE_FIELDS,
    QPV_FIELD,
    FormField("inhabitants_involved", N_("Inhabitants involved"), INTEGER, minimum=0),
    FormField("partners", N_("Partners"), LINES, hint=N_("One partner per line")),
)
RESOURCE_FIELDS = (
    FormField("name", N_("Name"), required=True, max_length=200),
    FormField("kind", N_("Kind"), SELECT, required=True, choices=tuple(labels.RESOURCE_KINDS.items())),
    FormField("description", N_("Description"), TEXTAREA),
    FormField("status", N_("Status"), SELECT, choices=tuple(labels.RESOURCE_STATUSES.items())),
    FormField("capacity", N_("Capacity"), INTEGER, minimum=0),
    FormField("capacity_unit", N_("Capacity unit"), hint=N_("e.g. places, m²"), max_length=50),
    FormField("availability.note", N_("Availability"), TEXTAREA, hint=N_("e.g. weekdays, booking a week ahead")),
    FormField("conditions", N_("Conditions of loan"), TEXTAREA, hint=N_("Price, deposit, insurance, licence…")),
    FormField("borrowers", N_("Who may borrow it"), CHECKBOXES, choices=tuple(labels.BORROWERS.items())),
    *_PLACE_FIELDS,
    *CONTACT_FIELDS,
)
# Values a new record's form starts with (the models' defaults).
_NEW_VALUES: dict[str, dict[str, Any]] = {
    "activity": {"status": ActivityStatus.ACTIVE.value},
    "resource": {
        "status": ResourceStatus.AVAILABLE.value,
        "kind": ResourceKind.ROOM.value,
        "borrowers": [Borrower.REGIES.value],
    },
}


def editable_data(document: dict[str, Any], kind: RecordKind) -> dict[str, Any]:
    """A stored record's data fields, as a client would send them back (no envelope, no derived fields)."""
    fields = {key: value for key, value in document.items() if key not in ENVELOPE_FIELDS | kind.read_only_fields}
    for nested in ("place",):
        if isinstance(fields.get(nested), dict):
            fields[nested] = {k: v for k, v in fields[nested].items() if k not in ("department", "region")}
    return fields


class RecordPages:
    """List, create, edit and delete pages of one record kind under /admin/<collection>."""

    def __init__(self, kind_name: str, title: str) -> None:
        self.kind = RECORD_KINDS[kind_name]
        self.title = title
        self.path = f"/admin/{self.kind.collection}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self.list, allow_head=False)
        app.router.add_get(self.path + "/new", self.new, allow_head=False)
        app.router.add_post(self.path + "/new", self.new)
        app.router.add_get(self.path + "/{id}", self.edit, allow_head=False)
        app.router.add_post(self.path + "/{id}", self.edit)
        app.router.add_get(self.path + "/{id}/delete", self.delete, allow_head=False)
        app.router.add_post(self.path + "/{id}/delete", self.delete)

    # --- what differs between kinds ---------------------------------------------------------------------

    def fields(self, request: web.Request, document: dict[str, Any]) -> list[FormField] | None:
        """The form's fields for this record (None: the record cannot be edited here)."""
        if self.kind.name == "resource":
            return list(RESOURCE_FIELDS)
        service_type = self.service_type(request, document)
        if service_type is None:
            return None
        return [*ACTIVITY_FIELDS, *model_fields(service_type.details_model, "details")]

    def service_type(self, request: web.Request, document: dict[str, Any]) -> ServiceType | None:
        key = document.get("service_type")
        registry = request.config_dict[appkeys.PLUGINS].registry
        return registry.service_types.get(key) if isinstance(key, str) else None

    def payload(self, fields: list[FormField], values: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        document = payload_from_form(fields, values, base)
        if self.kind.name == "activity":
            # Partners are typed one name per line; those already known keep their kind and SIRET.
            known = {partner.get("name"): partner for partner in base.get("partners", []) if isinstance(partner, dict)}
            document["partners"] = [known.get(name, {"name": name}) for name in values.get("partners", [])]
        return document

    # --- pages --------------------------------------------------------------------------------------------

    async def list(self, request: web.Request) -> web.StreamResponse:
        await require_user(request, NODE_ROLES)
        lang = language(request)
        records = await data.own_records(request, self.kind.name)
        for document in records:
            service_type = self.service_type(request, document)
            if service_type is not None:
                document["service_type_label"] = service_type.labels()[lang]
        context = {
            "records": records,
            "page_title": self.title,
            "path": self.path,
            "done": request.query.get("done"),
            "count": request.query.get("count", "0"),
            "skipped": request.query.get("skipped", "0"),
        }
        return await render(request, f"admin/{self.kind.collection}.html", context)

    async def new(self, request: web.Request) -> web.StreamResponse:
        user = await require_user(request, NODE_ROLES)
        form = await request.post() if request.method == "POST" else request.query
        base: dict[str, Any] = {}
        if self.kind.name == "activity":
            service_type = request.config_dict[appkeys.PLUGINS].registry.service_types.get(
                str(form.get("service_type", ""))
            )
            if service_type is None:
                return await self._choose_service_type(request)
            base = {"service_type": service_type.key, "category": str(service_type.category)}
        fields = self.fields(request, base)
        assert fields is not None
        if request.method == "GET":
            state = FormState(fields, values=values_from_record(fields, _NEW_VALUES[self.kind.name]))
            return await self._form(request, state, base, None)
        state = FormState(fields, values=values_from_form(fields, form))
        stored = await self._write(request, user, state, self.payload(fields, state.values, base), None, None)
        if stored is None:
            return await self._form(request, state, base, None, status=422)
        raise web.HTTPSeeOther(f"{self.path}?done=created")

    async def edit(self, request: web.Request) -> web.StreamResponse:
        user = await require_user(request, NODE_ROLES)
        document = await self._own_record(request)
        base = editable_data(document, self.kind)
        fields = self.fields(request, document)
        if fields is None:
            raise web.HTTPConflict(
                text=translate(request, "The plugin of this activity's service type is not enabled on this node.")
            )
        if request.method == "GET":
            return await self._form(
                request, FormState(fields, values=values_from_record(fields, document)), base, document
            )
        form = await request.post()
        state = FormState(fields, values=values_from_form(fields, form))
        version = str(form.get("version", ""))
        stored = await self._write(
            request,
            user,
            state,
            self.payload(fields, state.values, base),
            document,
            int(version) if version.isdigit() else None,
        )
        if stored is None:
            return await self._form(request, state, base, document, status=422)
        raise web.HTTPSeeOther(f"{self.path}?done=updated")

    async def delete(self, request: web.Request) -> web.StreamResponse:
        await require_user(request, NODE_ROLES)
        document = await self._own_record(request)
        if request.method == "GET":
            context = {"record": document, "path": self.path, "page_title": self.title}
            return await render(request, "admin/confirm_delete.html", context)
        await write_or_problem(request.config_dict[appkeys.STORE].delete(self.kind.name, document["id"]))
        raise web.HTTPSeeOther(f"{self.path}?done=deleted")

    # --- helpers ------------------------------------------------------------------------------------------

    async def _own_record(self, request: web.Request) -> dict[str, Any]:
        document = await data.record(request, self.kind.name, request.match_info["id"])
        if document is None:
            raise web.HTTPNotFound(text=translate(request, "This record does not exist or was deleted."))
        if document["origin"] != request.config_dict[appkeys.STORE].node_id:
            raise web.HTTPForbidden(
                text=translate(request, "This record belongs to another régie (%(origin)s): only it can change it.")
                % {"origin": document["origin"]}
            )
        return document

    async def _write(
        self,
        request: web.Request,
        user: WebUser,
        state: FormState,
        payload: dict[str, Any],
        previous: dict[str, Any] | None,
        version: int | None,
    ) -> StoredRecord | None:
        """Write through the record service like the API; on refusal, the errors go into `state`, None is returned."""
        store = request.config_dict[appkeys.STORE]
        actor = f"web:{user.username}"
        try:
            if previous is None:
                return await write_or_problem(store.create(self.kind.name, payload, actor))
            return await write_or_problem(
                store.replace(self.kind.name, previous["id"], payload, actor, if_match=version)
            )
        except Problem as problem:
            add_problem(request, state, problem)
            return None

    async def _form(
        self,
        request: web.Request,
        state: FormState,
        base: dict[str, Any],
        document: dict[str, Any] | None,
        *,
        status: int = 200,
    ) -> web.Response:
        lang = language(request)
        service_type = self.service_type(request, base) if self.kind.name == "activity" else None
        context = {
            "state": state,
            "record": document,
            "path": self.path,
            "page_title": self.title,
            "kind": self.kind.name,
            "service_type": service_type,
            "service_type_label": service_type.labels()[lang] if service_type else "",
            "category_label": category_label(str(service_type.category), lang) if service_type else "",
        }
        return await render(request, "admin/record_form.html", context, status=status)

    async def _choose_service_type(self, request: web.Request) -> web.Response:
        lang = language(request)
        registry = request.config_dict[appkeys.PLUGINS].registry
        groups = []
        for category in Category:
            of_category = [st for st in registry.service_types.values() if st.category == category]
            if of_category:
                of_category.sort(key=lambda st: st.labels()[lang])
                groups.append({"label": category_label(category.value, lang), "types": of_category})
        context = {"groups": groups, "path": self.path}
        return await render(request, "admin/choose_service_type.html", context)


def add_routes(app: web.Application) -> None:
    RecordPages("activity", N_("Activities")).add_routes(app)
    RecordPages("resource", N_("Shared resources")).add_routes(app)
