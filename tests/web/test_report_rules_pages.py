"""Validation rules in the report form: French messages next to the fields, warnings explained in the comment,
and periods not over announced and refused at submission."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from tests.web.conftest import csrf_of

LAST_YEAR = str(dt.date.today().year - 1)
THIS_YEAR = str(dt.date.today().year)


def _message(page: str, field: str, kind: str) -> str:
    """The text of the error or warning paragraph the form shows next to indicator `field`."""
    found = re.search(rf'<p class="field-{kind}" id="f-indicators-{field}-{kind}">(.*?)</p>', page, re.S)
    assert found, f"no {kind} next to {field}"
    return found[1].strip()


async def _post(client: Any, period: str, action: str, comment: str = "", **values: str) -> Any:
    form = html.unescape(await (await client.get(f"/admin/reports/new?period={period}")).text())
    fields = {f"indicators.{key}": value for key, value in values.items()}
    data = {"_csrf": csrf_of(form), "period": period, "comment": comment, "action": action, **fields}
    return await client.post("/admin/reports/new", data=data, allow_redirects=False)


async def _reports(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await (await client.get("/api/v1/reports", headers=client.regies_auth)).json())[
        "items"
    ]
    return items


async def test_a_broken_rule_is_shown_next_to_its_field_and_blocks_submission(member: Any) -> None:
    values = {"budget_total": "100 000", "turnover_local_authorities": "80 000", "turnover_other": "30 000"}
    refused = await _post(member, LAST_YEAR, "submit", **values)
    assert refused.status == 422
    page = html.unescape(await refused.text())
    assert _message(page, "turnover_local_authorities", "error") == (
        "Le chiffre d'affaires (collectivités, bailleurs, autres) dépasse le budget total."
    )
    field = "f-indicators-turnover_local_authorities"
    assert f'aria-describedby="{field}-hint {field}-error" aria-invalid="true"' in page
    assert await _reports(member) == []


async def test_a_warning_asks_for_a_comment_then_the_history_keeps_both(member: Any) -> None:
    values = {"budget_total": "100 000", "payroll": "120 000"}
    refused = await _post(member, LAST_YEAR, "submit", **values)
    assert refused.status == 422
    page = html.unescape(await refused.text())
    assert _message(page, "payroll", "warning") == "Avertissement : La masse salariale dépasse le budget total."
    assert "Expliquez dans le commentaire les avertissements du rapport avant de le soumettre." in page
    assert await _reports(member) == []

    accepted = await _post(member, LAST_YEAR, "submit", comment="Réserve de l'an passé.", **values)
    assert accepted.status == 303, html.unescape(await accepted.text())
    [report] = await _reports(member)
    page = html.unescape(await (await member.get(f"/admin/reports/{report['id']}")).text())
    assert (
        "Avertissements : payroll : La masse salariale dépasse le budget total. — Commentaire : Réserve de l'an passé."
        in page
    )


async def test_a_saved_draft_shows_what_would_block_or_warn_before_submission(member: Any) -> None:
    values = {"budget_total": "100 000", "payroll": "120 000", "turnover_other": "150 000"}
    saved = await _post(member, LAST_YEAR, "draft", **values)
    assert saved.status == 303
    [report] = await _reports(member)
    page = html.unescape(await (await member.get(f"/admin/reports/{report['id']}")).text())
    assert _message(page, "payroll", "warning") == "Avertissement : La masse salariale dépasse le budget total."
    assert _message(page, "turnover_other", "warning") == (
        "Avertissement : Bloquera la soumission : "
        "Le chiffre d'affaires (collectivités, bailleurs, autres) dépasse le budget total."
    )


async def test_an_outlier_shows_the_previous_value(member: Any) -> None:
    before = str(dt.date.today().year - 2)
    assert (await _post(member, before, "draft", volunteers="12")).status == 303
    refused = await _post(member, LAST_YEAR, "submit", volunteers="1 200")
    assert refused.status == 422
    page = html.unescape(await refused.text())
    assert _message(page, "volunteers", "warning") == (
        f"Avertissement : Valeur très éloignée de celle de la période précédente ({before} : 12)."
    )


async def test_a_period_not_over_is_announced_and_cannot_be_submitted(member: Any) -> None:
    form = html.unescape(await (await member.get(f"/admin/reports/new?period={THIS_YEAR}")).text())
    assert (
        "Cette période n'est pas terminée : vous pouvez enregistrer un brouillon dès maintenant et soumettre le "
        f"rapport à partir du 1 janvier {int(THIS_YEAR) + 1}." in form
    )
    last = html.unescape(await (await member.get(f"/admin/reports/new?period={LAST_YEAR}")).text())
    assert 'id="period-not-over"' not in last
    refused = await _post(member, THIS_YEAR, "submit", volunteers="4")
    assert refused.status == 422
    page = html.unescape(await refused.text())
    assert "La période n'est pas terminée : un rapport ne peut être soumis qu'une fois sa période achevée." in page
    assert await _reports(member) == []
    assert (await _post(member, THIS_YEAR, "draft", volunteers="4")).status == 303
    assert [report["state"] for report in await _reports(member)] == ["draft"]
