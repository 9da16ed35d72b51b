"""Every page, the API docs page included, is sent with the headers that keep it out of frames and other sites."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.conftest import HTML
from tests.web.test_browser import browser

__all__ = ["browser"]  # the fixture, imported so that a test here can drive Chromium

PAGES = ["/", "/login", "/admin", "/admin/activities", "/admin/nowhere", "/docs", "/docs/assets/api-docs.js"]


@pytest.mark.parametrize("path", PAGES)
async def test_pages_forbid_framing_and_leaking_their_address(staff: TestClient[Any, Any], path: str) -> None:
    response = await staff.get(path, headers=HTML, allow_redirects=False)
    assert response.status in (200, 303, 404)  # a logged-in visitor of /login is sent on: headers all the same
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy and "script-src" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_docs_page_keeps_the_token_out_of_local_storage(staff: TestClient[Any, Any], browser: Any) -> None:
    """Typed into Swagger UI's Authorize dialog, the token stays in the page: not in localStorage afterwards."""
    base = str(staff.make_url("")).rstrip("/")
    context = await browser.new_context(base_url=base)
    context.set_default_timeout(20_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await page.goto("/docs")
    await page.locator(".swagger-ui .info .title").wait_for()  # Swagger UI runs under the page's policy
    await page.locator("button.authorize").first.click()
    await page.locator(".modal-ux input").first.fill("rgs_secret-token-typed-here")
    await page.locator(".modal-ux .auth-btn-wrapper button.authorize").first.click()
    await page.locator(".modal-ux button.btn-done").first.click()
    stored = await page.evaluate("JSON.stringify(Object.assign({}, window.localStorage, window.sessionStorage))")
    assert "rgs_secret-token-typed-here" not in stored
    assert not [error for error in errors if "Content Security Policy" in error], errors
    await context.close()
