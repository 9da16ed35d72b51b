"""Period reports in the back-office: computed indicators pre-filled, drafts, submission, then read-only."""

from __future__ import annotations

import html
from typing import Any

from tests.web.conftest import csrf_of


def _report(page: str, action: str, **fields: str) -> dict[str, str]:
    return {
        "_csrf": csrf_of(page),
        "period": "2026",
        "indicators.driving_learners": "14",
        "indicators.fte_total": "12,5",
        "comment": "Année de lancement",
        "action": action,
        **fields,
    }


async def test_fill_and_submit_a_period_report(staff: Any) -> None:
    page = await (await staff.get("/admin/activities/new?service_type=social_driving_school")).text()
    activity = {"service_type": "social_driving_school", "title": "Auto-école", "start_date": "2026-01-05"}
    created = await staff.post(
        "/admin/activities/new",
        data={"_csrf": csrf_of(page), **activity, "details.learners": "14"},
        allow_redirects=False,
    )
    assert created.status == 303, html.unescape(await created.text())

    form = html.unescape(await (await staff.get("/admin/reports/new?period=2026")).text())
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
