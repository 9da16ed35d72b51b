"""Health, readiness, the OpenAPI document and the offline API docs page."""

from __future__ import annotations

from typing import Any

from federation.schema.records import RECORD_KINDS


async def test_health_and_readiness(client: Any) -> None:
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    assert await (await client.get("/readyz")).json() == {"status": "ready"}


async def test_openapi_documents_every_collection_from_the_models(client: Any) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    for kind in RECORD_KINDS.values():
        assert kind.record_model.__name__ in schemas or f"{kind.record_model.__name__}-Output" in schemas
    assert set(schemas["ActivityData"]["properties"]) == set(RECORD_KINDS["activity"].data_model.model_fields)
    for path in (
        "/api/v1/node",
        "/api/v1/activities",
        "/api/v1/activities/{id}",
        "/api/v1/resources",
        "/api/v1/reports",
    ):
        assert path in document["paths"]
    create = document["paths"]["/api/v1/activities"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ActivityData")
    assert create["security"] == [{"bearerAuth": []}]
    assert "422" in create["responses"]


async def test_docs_page_uses_only_local_assets(client: Any) -> None:
    page = await client.get("/docs")
    assert page.status == 200
    html = await page.text()
    assert "http://" not in html and "https://" not in html
    for asset in ("/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/api-docs.js"):
        assert asset in html
        response = await client.get(asset)
        assert response.status == 200, asset
        assert len(await response.read()) > 100


async def test_index_links_to_the_api(client: Any) -> None:
    index = await (await client.get("/")).json()
    assert index["links"]["openapi"] == "/openapi.json"
