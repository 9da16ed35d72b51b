"""Period reports in the back-office: computed indicators pre-filled, drafts, submission, then read-only."""

from __future__ import annotations

import html
from typing import Any

from federation import appkeys
from federation.reports import build_report
from federation.schema.records import PeriodReportData
from tests.web.conftest import csrf_of


def _report(page: str, action: str, **fields: str) -> dict[str, str]:
    return {
        "_csrf": csrf_of(page),
        "period": "2025",
        "indicators.driving_learners": "14",
        "indicators.fte_total": "12,5",
        "comment": "Année de lancement",
        "action": action,
        **fields,
    }


async def test_fill_and_submit_a_period_report(member: Any) -> None:
    staff = member
    page = await (await staff.get("/admin/activities/new?service_type=social_driving_school")).text()
    activity = {"service_type": "social_driving_school", "title": "Auto-école", "start_date": "2025-01-05"}
    created = await staff.post(
        "/admin/activities/new",
        data={"_csrf": csrf_of(page), **activity, "details.learners": "14"},
        allow_redirects=False,
    )
    assert created.status == 303, html.unescape(await created.text())

    form = html.unescape(await (await staff.get("/admin/reports/new?period=2025")).text())
    assert 'name="indicators.driving_learners" value="14"' in form  # computed from the activity above
    refused = await staff.post("/admin/reports/new", data=_report(form, "draft", **{"indicators.volunteers": "-2"}))
    assert refused.status == 422
    assert "Saisissez un nombre supérieur ou égal à 0." in html.unescape(await refused.text())
    saved = await staff.post("/admin/reports/new", data=_report(form, "draft"), allow_redirects=False)
    assert saved.status == 303, html.unescape(await saved.text())
    listing = html.unescape(await (await staff.get(saved.headers["Location"])).text())
    assert "Brouillon enregistré." in listing
    report_id = listing.split('<a href="/admin/reports/', 1)[1].split('"', 1)[0]
    edit = await (await staff.get(f"/admin/reports/{report_id}")).text()
    submitted = await staff.post(
        f"/admin/reports/{report_id}", data=_report(edit, "submit", version="1"), allow_redirects=False
    )
    assert submitted.status == 303, html.unescape(await submitted.text())

    [report] = (await (await staff.get("/api/v1/reports", headers=staff.regies_auth)).json())["items"]
    assert (report["state"], report["version"], report["comment"]) == ("submitted", 2, "Année de lancement")
    assert report["indicators"] == {"driving_learners": 14, "fte_total": 12.5}
    page = html.unescape(await (await staff.get(f"/admin/reports/{report_id}")).text())
    assert "Soumis" in page
    assert "<button" not in page.split("<main", 1)[1].split("</main>", 1)[0]  # read-only now
    assert "web:marie" in page  # the history names who submitted


async def _draft(staff: Any) -> str:
    """A draft report for 2025 saved through the form; its id."""
    form = html.unescape(await (await staff.get("/admin/reports/new?period=2025")).text())
    saved = await staff.post("/admin/reports/new", data=_report(form, "draft"), allow_redirects=False)
    assert saved.status == 303, html.unescape(await saved.text())
    listing = html.unescape(await (await staff.get(saved.headers["Location"])).text())
    return listing.split('<a href="/admin/reports/', 1)[1].split('"', 1)[0]


async def test_without_a_hub_submitting_is_refused_in_french_and_nothing_changes(staff: Any) -> None:
    report_id = await _draft(staff)
    edit = html.unescape(await (await staff.get(f"/admin/reports/{report_id}")).text())
    assert "regies network join" in edit  # said before anyone clicks
    refused = await staff.post(f"/admin/reports/{report_id}", data=_report(edit, "submit", version="1"))
    assert refused.status == 409
    page = html.unescape(await refused.text())
    assert "Le rapport n'a pas été soumis : ce nœud n'a rejoint aucune tête de réseau." in page
    assert "<code>regies network join</code>" in page
    [report] = (await (await staff.get("/api/v1/reports", headers=staff.regies_auth)).json())["items"]
    assert (report["state"], report["version"]) == ("draft", 1)


async def _submitted_before_the_check(app: Any, hub_then: bool = True) -> str:
    """A report submitted as this node could before submissions needed a hub (or while it had one)."""
    data = PeriodReportData.model_validate(
        {"period": {"type": "year", "year": 2025}, "indicators": {"volunteers": 7}, "state": "submitted"}
    )
    stored = await app[appkeys.STORE].create_built(
        "report", lambda previous, envelope: build_report(data, previous, envelope, "web:marie", hub_joined=hub_then)
    )
    return str(stored.id)


async def test_a_report_locked_without_a_hub_goes_back_to_draft(staff: Any) -> None:
    report_id = await _submitted_before_the_check(staff.app)
    page = html.unescape(await (await staff.get(f"/admin/reports/{report_id}")).text())
    assert "Repasser en brouillon" in page
    unlocked = await staff.post(
        f"/admin/reports/{report_id}/unlock", data={"_csrf": csrf_of(page)}, allow_redirects=False
    )
    assert unlocked.status == 303
    listing = html.unescape(await (await staff.get(unlocked.headers["Location"])).text())
    assert "Le rapport est de nouveau un brouillon." in listing
    report = await (await staff.get(f"/api/v1/reports/{report_id}", headers=staff.regies_auth)).json()
    assert (report["state"], report["indicators"]) == ("draft", {"volunteers": 7})
    last = report["audit"][-1]
    assert (last["from_state"], last["to_state"], last["actor"]) == ("submitted", "draft", "web:marie")
    page = html.unescape(await (await staff.get(f"/admin/reports/{report_id}")).text())
    assert 'value="submit"' in page and "Repasser en brouillon" not in page  # editable again


async def test_a_report_delivered_to_the_hub_cannot_be_unlocked(member: Any) -> None:
    report_id = await _submitted_before_the_check(member.app)
    page = html.unescape(await (await member.get(f"/admin/reports/{report_id}")).text())
    assert "Repasser en brouillon" not in page
    refused = await member.post(f"/admin/reports/{report_id}/unlock", data={"_csrf": csrf_of(page)})
    assert refused.status == 409
    report = await (await member.get(f"/api/v1/reports/{report_id}", headers=member.regies_auth)).json()
    assert (report["state"], report["version"]) == ("submitted", 1)


def _section_titles(page: str) -> list[str]:
    return [part.split("</h2>", 1)[0] for part in page.split("<summary><h2>")[1:]]


async def test_report_form_sections_follow_the_survey_and_what_the_regie_does(staff: Any) -> None:
    page = html.unescape(await (await staff.get("/admin/reports/new?period=2025")).text())
    # No activity yet: only the core indicators, by section in the survey's order.
    assert _section_titles(page) == [
        "Emploi et insertion",
        "Vie associative et démocratie",
        "Finances et marchés publics",
        "Territoire",
    ]
    assert "indicators.driving_learners" not in page and "indicators.employees_cddi" not in page
    assert "0 champ rempli sur 3" in page  # the employment section summary

    for service_type, details in (
        ("social_driving_school", {"details.learners": "9"}),
        ("insertion_contracts", {"details.structure": "ACI"}),
    ):
        form = await (await staff.get(f"/admin/activities/new?service_type={service_type}")).text()
        fields = {"service_type": service_type, "title": f"Activité {service_type}", "start_date": "2025-02-01"}
        created = await staff.post(
            "/admin/activities/new", data={"_csrf": csrf_of(form), **fields, **details}, allow_redirects=False
        )
        assert created.status == 303, html.unescape(await created.text())

    page = html.unescape(await (await staff.get("/admin/reports/new?period=2025")).text())
    assert _section_titles(page) == [
        "Emploi et insertion",
        "Activités",
        "Vie associative et démocratie",
        "Finances et marchés publics",
        "Territoire",
    ]
    sections = dict(zip(_section_titles(page), page.split("<summary><h2>")[1:], strict=True))
    assert 'name="indicators.employees_cddi"' in sections["Emploi et insertion"]  # insertion plugin: employment
    assert 'name="indicators.driving_learners" value="9"' in sections["Activités"]  # mobility plugin, computed
    assert "1 champ rempli sur " in sections["Activités"]
    # Plugins whose service types the régie does not run stay out of the form.
    assert "indicators.mediation_interventions" not in page and "indicators.buildings_cleaned" not in page
