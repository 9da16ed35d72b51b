"""The back-office form explains commune and QPV errors in French, naming the commune or department concerned."""

from __future__ import annotations

import html
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import csrf_of


@pytest.mark.parametrize(
    ("commune", "qpv", "field", "message"),
    [
        (
            "93100",
            "",
            "place-commune",
            "93100 est un code postal, pas un code commune INSEE : saisissez le code de Montreuil (93048).",
        ),
        (
            "93999",
            "",
            "place-commune",
            "Le code commune INSEE 93999 n'existe pas : vérifiez-le dans le code officiel géographique (COG).",
        ),
        (
            "01039",
            "",
            "place-commune",
            "La commune 01039 n'existe plus depuis sa fusion avec d'autres : saisissez Culoz-Béon (01138).",
        ),
        (
            "93048",
            "QP093001 QP075001",
            "place-qpv",
            "Le QPV QP075001 est dans le département 75, pas dans celui de la commune (93).",
        ),
        (
            "93048",
            "QP000000",
            "place-qpv",
            "Le code QPV QP000000 n'existe pas : ses chiffres ne désignent aucun département.",
        ),
        ("93048", "QP093001 QP093001", "place-qpv", "Le QPV QP093001 est indiqué deux fois."),
    ],
)
async def test_reference_data_errors_are_explained_in_french(
    staff: TestClient[Any, Any], commune: str, qpv: str, field: str, message: str
) -> None:
    page = await (await staff.get("/admin/activities/new?service_type=green_spaces")).text()
    response = await staff.post(
        "/admin/activities/new",
        data={
            "_csrf": csrf_of(page),
            "service_type": "green_spaces",
            "title": "Tonte des Lilas",
            "place.commune": commune,
            "place.qpv": qpv,
        },
    )
    assert response.status == 422
    answer = html.unescape(await response.text())
    assert f'<p class="field-error" id="f-{field}-error">{message}' in answer
    listing = await (await staff.get("/api/v1/activities")).json()
    assert listing["items"] == []
