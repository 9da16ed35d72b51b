"""The régie's logo: uploaded through the profile page, refused unless it is a PNG, JPEG or WebP image of at most
512 KB, stored in the data dir, served from /logo as an image only, and shown on the public page."""

from __future__ import annotations

import html
from typing import Any

import pytest
from aiohttp import FormData

from federation import appkeys
from tests.web.conftest import HTML, csrf_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(100)
SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML_AS_PNG = b"<!doctype html><script>fetch('/admin').then(r => r.text()).then(alert)</script>"


async def _send_logo(
    client: Any, content: bytes, *, filename: str = "logo.png", content_type: str = "image/png", csrf: str | None = None
) -> Any:
    """Post the profile page's logo form as a browser would, with the page's CSRF token unless one is given."""
    if csrf is None:
        csrf = csrf_of(await (await client.get("/admin/profile", headers=HTML)).text())
    form = FormData()
    form.add_field("_csrf", csrf)
    form.add_field("logo", content, filename=filename, content_type=content_type)
    return await client.post("/admin/profile/logo", data=form, headers=HTML, allow_redirects=False)


def _stored(client: Any) -> bytes | None:
    path = client.app[appkeys.SETTINGS].data_dir / "web" / "logo"
    return path.read_bytes() if path.exists() else None


@pytest.mark.parametrize(
    ("content", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "webp"],
)
async def test_an_uploaded_logo_is_served_as_an_image_and_shown_on_the_public_page(
    staff: Any, content: bytes, media_type: str
) -> None:
    response = await _send_logo(staff, content, content_type=media_type)
    assert (response.status, response.headers["Location"]) == (303, "/admin/profile?done=logo")
    profile_page = await (await staff.get("/admin/profile?done=logo", headers=HTML)).text()
    assert "Logo enregistré." in profile_page
    assert 'alt="Logo actuel"' in profile_page

    served = await staff.get("/logo")
    assert served.status == 200
    assert await served.read() == content
    assert served.headers["Content-Type"] == media_type
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"

    public = await (await staff.get("/", headers=HTML)).text()
    assert '<img class="hero-logo" src="/logo?v=' in public


@pytest.mark.parametrize(
    ("content", "filename", "content_type", "status", "message"),
    [
        (
            SVG_WITH_SCRIPT,
            "logo.svg",
            "image/svg+xml",
            422,
            "Le logo doit être une image PNG, JPEG ou WebP (les fichiers SVG ne sont pas acceptés).",
        ),
        (
            HTML_AS_PNG,
            "logo.png",
            "image/png",
            422,
            "Le logo doit être une image PNG, JPEG ou WebP (les fichiers SVG ne sont pas acceptés).",
        ),
        # Past the logo's limit but inside the node's body limit: the form is read, the file refused.
        (PNG + bytes(600 * 1024), "logo.png", "image/png", 422, "Le logo est trop lourd"),
        # Past the node's body limit (1 MiB by default): the form cannot even be read.
        (PNG + bytes(2 * 1024 * 1024), "logo.png", "image/png", 413, "Le logo est trop lourd"),
        (b"", "logo.png", "image/png", 422, "Choisissez un fichier image à envoyer."),
    ],
    ids=["svg", "html-disguised-as-png", "over-512-kb", "over-the-body-limit", "empty"],
)
async def test_a_refused_file_gets_a_french_message_and_keeps_the_current_logo(
    staff: Any, content: bytes, filename: str, content_type: str, status: int, message: str
) -> None:
    assert (await _send_logo(staff, PNG)).status == 303
    response = await _send_logo(staff, content, filename=filename, content_type=content_type)
    page = html.unescape(await response.text())
    assert response.status == status
    assert message in page
    assert 'role="alert" id="logo-error"' in page
    assert _stored(staff) == PNG
    assert await (await staff.get("/logo")).read() == PNG


async def test_the_logo_form_needs_the_csrf_token_and_a_logged_in_user(node: Any, staff: Any) -> None:
    assert (await _send_logo(staff, PNG, csrf="forged")).status == 403
    assert _stored(staff) is None
    await staff.post("/logout", data={"_csrf": csrf_of(await (await staff.get("/admin", headers=HTML)).text())})
    anonymous = await _send_logo(node, PNG, csrf=csrf_of(await (await node.get("/login", headers=HTML)).text()))
    assert anonymous.status == 303
    assert anonymous.headers["Location"].startswith("/login")
    assert _stored(node) is None
    assert (await node.get("/logo")).status == 404


async def test_the_logo_can_be_removed(staff: Any) -> None:
    assert (await _send_logo(staff, PNG)).status == 303
    csrf = csrf_of(await (await staff.get("/admin/profile", headers=HTML)).text())
    form = FormData()
    form.add_field("_csrf", csrf)
    form.add_field("remove", "1")
    response = await staff.post("/admin/profile/logo", data=form, headers=HTML, allow_redirects=False)
    assert response.headers["Location"] == "/admin/profile?done=logo-removed"
    assert (await staff.get("/logo")).status == 404
    assert "hero-logo" not in await (await staff.get("/", headers=HTML)).text()


async def test_a_file_put_by_hand_that_is_no_image_is_not_served(staff: Any) -> None:
    path = staff.app[appkeys.SETTINGS].data_dir / "web" / "logo"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(HTML_AS_PNG)
    response = await staff.get("/logo")
    assert response.status == 404
    assert b"<script>" not in await response.read()
