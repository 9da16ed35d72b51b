"""Back-office pages for period reports: start one for a period, fill it (computed indicators pre-filled),
save a draft, submit it to the network, and read its history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from yarl import URL

from federation import appkeys
from federation.api.records import write_or_problem
from federation.indicators import (
    SECTION_LABELS,
    by_section,
    parse_period_key,
    period_bounds,
    period_over,
    report_form,
    service_types_in_use,
    shown_indicators,
)
from federation.numbers import form_value
from federation.problems import Problem
from federation.reports import build_report, hub_joined
from federation.schema.records import RECORD_KINDS, PeriodReportData, ReportState
from federation.validation_rules import submission_findings
from federation.web import data
from federation.web.auth import require_user
from federation.web.forms import NUMBER, TEXTAREA, FormField, FormState, payload_from_form, values_from_form
from federation.web.i18n_request import language, translate
from federation.web.labels import N_
from federation.web.rendering import render
from federation.web.users import NODE_ROLES, WebUser
from federation.web.validation import add_problem

REPORT = RECORD_KINDS["report"]
PATH = "/admin/reports"
EDITABLE_STATES = (ReportState.DRAFT.value, ReportState.RETURNED.value)
_UNITS = {
    "count": N_("number"),
    "fte": N_("full-time equivalents"),
    "percent": N_("percent"),
    "euros": N_("euros"),
    "hours": N_("hours"),
}


def period_choices(today: dt.date) -> list[str]:
    """The periods a régie most likely reports on now: this and last year, their quarters, the last survey."""
    year = today.year
    return [
        str(year - 1),
        str(year),
        *(f"{y}-Q{q}" for y in (year, year - 1) for q in range(1, 5)),
        f"{year - 3}-{year - 1}",
    ]


async def reports(request: web.Request) -> web.StreamResponse:
    await require_user(request, NODE_ROLES)
    found = sorted(await data.own_records(request, "report"), key=lambda r: r["period"]["key"], reverse=True)
    context = {"reports": found, "periods": period_choices(dt.date.today()), "done": request.query.get("done")}
    return await render(request, "admin/reports.html", context)


@dataclass
class ReportForm:
    """The report's inputs (the shown indicators, then the comment), the values computed from activities, and
    the indicators' inputs grouped by the form's sections (section key, title, inputs)."""

    fields: list[FormField]
    computed: dict[str, Any]
    sections: list[tuple[str, str, list[FormField]]]


async def _form(request: web.Request, period_key: str, filled: Collection[str] = ()) -> ReportForm:
    lang = language(request)
    registry = request.config_dict[appkeys.PLUGINS].registry
    engine = request.config_dict[appkeys.ENGINE]
    node_id = request.config_dict[appkeys.STORE].node_id
    form = await report_form(engine, registry, node_id, parse_period_key(period_key))
    described = {indicator["key"]: indicator for indicator in form["indicators"]}
    with_values = {*filled, *(key for key, indicator in described.items() if indicator["value"] is not None)}
    shown = shown_indicators(registry, await service_types_in_use(engine, node_id), with_values)
    computed: dict[str, Any] = {}
    sections = []
    for section, members in by_section(registry, shown):
        inputs = []
        for member in members:
            indicator = described[member.key]
            hint = translate(request, _UNITS.get(indicator["unit"], indicator["unit"]))
            # The plugin's own words on where the figure comes from, else (a computed one) the generic ones.
            if member.hint(lang):
                hint += " · " + member.hint(lang)
            elif indicator["source"] == "computed":
                hint += " · " + translate(request, "computed from your activities of the period")
            if indicator["source"] == "computed" and indicator["value"] is not None:
                computed[f"indicators.{indicator['key']}"] = form_value(indicator["value"], lang)
            name = f"indicators.{indicator['key']}"
            inputs.append(FormField(name, indicator["labels"][lang], NUMBER, hint=hint, translate=False, minimum=0))
        sections.append((section, SECTION_LABELS[section][lang], inputs))
    fields = [field for _section, _title, inputs in sections for field in inputs]
    fields.append(FormField("comment", N_("Comment"), TEXTAREA))
    return ReportForm(fields, computed, sections)


async def new_report(request: web.Request) -> web.StreamResponse:
    user = await require_user(request, NODE_ROLES)
    form = await request.post() if request.method == "POST" else request.query
    try:
        period = parse_period_key(str(form.get("period", "")))
    except ValueError:
        raise web.HTTPSeeOther(PATH) from None
    assert period.key is not None
    existing = [r for r in await data.own_records(request, "report") if r["period"]["key"] == period.key]
    if existing:
        raise web.HTTPSeeOther(f"{PATH}/{existing[0]['id']}")
    shape = await _form(request, period.key)
    if request.method == "GET":
        return await _page(request, FormState(shape.fields, values=shape.computed), period.key, None, shape)
    return await _save(request, user, shape, form, period.model_dump(mode="json"), None)


async def report(request: web.Request) -> web.StreamResponse:
    user = await require_user(request, NODE_ROLES)
    document = await data.record(request, "report", request.match_info["id"])
    if document is None or document["origin"] != request.config_dict[appkeys.STORE].node_id:
        raise web.HTTPNotFound(text=translate(request, "This record does not exist or was deleted."))
    period_key = document["period"]["key"]
    shape = await _form(request, period_key, filled=document.get("indicators", {}).keys())
    if request.method == "GET":
        lang = language(request)
        values = {f"indicators.{key}": form_value(value, lang) for key, value in document.get("indicators", {}).items()}
        values["comment"] = document.get("comment", "")
        state = FormState(shape.fields, values=values)
        if document["state"] in EDITABLE_STATES:
            await _show_findings(request, state, document)
        return await _page(request, state, period_key, document, shape)
    if document["state"] not in EDITABLE_STATES:
        raise web.HTTPConflict(
            text=translate(request, "This report is submitted: it can change again only if the network returns it.")
        )
    return await _save(request, user, shape, await request.post(), document["period"], document)


async def _show_findings(request: web.Request, state: FormState, document: dict[str, Any]) -> None:
    """Put next to their fields what the validation rules and last period's values say of a saved draft, so
    that the régie sees it before submitting (errors will block the submission, warnings ask for a comment)."""
    node_id = request.config_dict[appkeys.STORE].node_id
    registry = request.config_dict[appkeys.PLUGINS].registry
    period = parse_period_key(document["period"]["key"])
    findings = await submission_findings(
        request.config_dict[appkeys.ENGINE], registry, node_id, period, document.get("indicators", {})
    )
    for finding in findings:
        name = "indicators." + finding.pointer.rsplit("/", 1)[-1]
        text = finding.message_fr if language(request) == "fr" else finding.detail
        if finding.severity == "error":
            text = translate(request, "It will block the submission:") + " " + text
        state.warnings.setdefault(name, text)


async def _hub_joined(request: web.Request) -> bool:
    return await hub_joined(request.config_dict[appkeys.ENGINE], request.config_dict[appkeys.PLUGINS].registry)


async def unlock(request: web.Request) -> web.StreamResponse:
    """Put back to draft a report submitted while no hub could receive it (it was never delivered)."""
    user = await require_user(request, NODE_ROLES)
    document = await data.record(request, "report", request.match_info["id"])
    if document is None or document["origin"] != request.config_dict[appkeys.STORE].node_id:
        raise web.HTTPNotFound(text=translate(request, "This record does not exist or was deleted."))
    if document["state"] != ReportState.SUBMITTED.value or await _hub_joined(request):
        raise web.HTTPConflict(
            text=translate(request, "This report is submitted: it can change again only if the network returns it.")
        )
    fields = {key: document[key] for key in PeriodReportData.model_fields if key in document}
    draft = PeriodReportData.model_validate({**fields, "state": ReportState.DRAFT.value})
    actor = f"web:{user.username}"

    def build(before: dict[str, Any] | None, envelope: dict[str, Any]) -> Any:
        return build_report(draft, before, envelope, actor, hub_joined=False)

    store = request.config_dict[appkeys.STORE]
    await write_or_problem(store.replace_built("report", document["id"], build, if_match=document["version"]))
    raise web.HTTPSeeOther(URL(PATH).with_query(done="unlocked"))


async def _save(
    request: web.Request,
    user: WebUser,
    shape: ReportForm,
    form: Any,
    period: dict[str, Any],
    previous: dict[str, Any] | None,
) -> web.StreamResponse:
    submit = form.get("action") == "submit"
    state = FormState(shape.fields, values=values_from_form(shape.fields, form))
    payload = payload_from_form(shape.fields, state.values, {"indicators": {}})
    payload.update(
        period=period, state=ReportState.SUBMITTED.value if submit else (previous or {}).get("state", "draft")
    )
    store = request.config_dict[appkeys.STORE]
    if submit and not await _hub_joined(request):
        state.form_errors.append(
            translate(request, "The report was not submitted: this node has not joined the network's hub.")
        )
        return await _page(request, state, period["key"], previous, shape, status=409)
    actor = f"web:{user.username}"
    try:
        if previous is None:
            await write_or_problem(store.create("report", payload, actor))
        else:
            version = str(form.get("version", ""))
            if_match = int(version) if version.isdigit() else None
            await write_or_problem(store.replace("report", previous["id"], payload, actor, if_match=if_match))
    except Problem as problem:
        add_problem(request, state, problem)
        return await _page(request, state, period["key"], previous, shape, status=422)
    raise web.HTTPSeeOther(URL(PATH).with_query(done="submitted" if submit else "saved"))


async def _page(
    request: web.Request,
    state: FormState,
    period_key: str,
    document: dict[str, Any] | None,
    shape: ReportForm,
    *,
    status: int = 200,
) -> web.Response:
    editable = document is None or document["state"] in EDITABLE_STATES
    returned = [entry for entry in (document or {}).get("audit", []) if entry.get("action") == "returned"]
    is_returned = bool(returned) and document is not None and document["state"] == ReportState.RETURNED.value
    joined = await _hub_joined(request)
    period = parse_period_key(period_key)
    context = {
        "hub_joined": joined,
        "period_over": period_over(period, dt.date.today()),
        "submit_from": period_bounds(period)[1] + dt.timedelta(days=1),
        "unlockable": document is not None and document["state"] == ReportState.SUBMITTED.value and not joined,
        "state": state,
        "report": document,
        "period_key": period_key,
        "editable": editable,
        "computed": shape.computed,
        "sections": [
            {
                "key": key,
                "title": title,
                "fields": inputs,
                "filled": sum(1 for field in inputs if str(state.values.get(field.name, "")).strip()),
                "has_errors": any(field.name in state.errors for field in inputs),
            }
            for key, title, inputs in shape.sections
        ],
        "comment_field": shape.fields[-1],
        "return_comment": returned[-1].get("comment") if is_returned else None,
    }
    return await render(request, "admin/report_form.html", context, status=status)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, reports, allow_head=False)
    app.router.add_get(PATH + "/new", new_report, allow_head=False)
    app.router.add_post(PATH + "/new", new_report)
    app.router.add_get(PATH + "/{id}", report, allow_head=False)
    app.router.add_post(PATH + "/{id}", report)
    app.router.add_post(PATH + "/{id}/unlock", unlock)
