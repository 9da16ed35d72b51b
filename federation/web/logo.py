"""The régie's logo: checked by its first bytes (PNG, JPEG or WebP only), kept as one file in the data dir, served
from `/logo` with headers that let a browser show it as an image and nothing else."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from federation import appkeys
from federation.web.labels import N_

PATH = "/logo"
# A logo is shown at most a few hundred pixels wide: 512 KiB is plenty and keeps the public page light.
MAX_BYTES = 512 * 1024
# The file keeps no extension: its type is read again from its first bytes each time it is served.
FILE_NAME = "logo"
TOO_LARGE = N_("The logo is too large: send an image of at most 512 KB.")
# Served bytes are an image, never a document: no script, no plugin, no frame, whatever a file pretends to be.
SERVED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-cache",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class LogoRefused(ValueError):
    """An uploaded file that is not accepted as a logo; its message is the English text of the page's error."""


def image_type(head: bytes) -> str | None:
    """The media type of a PNG, JPEG or WebP file from its magic bytes; None for anything else (SVG included)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(content: bytes) -> str:
    """The upload's media type, or LogoRefused saying why it cannot be the logo."""
    if not content:
        raise LogoRefused(N_("Choose an image file to send."))
    if len(content) > MAX_BYTES:
        raise LogoRefused(TOO_LARGE)
    media_type = image_type(content[:16])
    if media_type is None:
        # SVG is refused on purpose: an SVG file can carry scripts.
        raise LogoRefused(N_("The logo must be a PNG, JPEG or WebP image (SVG files are not accepted)."))
    return media_type


def logo_file(request: web.Request) -> Path:
    return request.config_dict[appkeys.SETTINGS].data_dir / "web" / FILE_NAME


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".new")
    temporary.write_bytes(content)
    os.replace(temporary, target)  # readers see the old logo or the new one, never half of one


async def save(request: web.Request, content: bytes) -> None:
    """Store `content` as the logo after check_upload accepted it."""
    await asyncio.to_thread(_write_atomically, logo_file(request), content)


async def remove(request: web.Request) -> None:
    await asyncio.to_thread(logo_file(request).unlink, missing_ok=True)


def version(request: web.Request) -> str | None:
    """A token that changes when the logo does (for the image's URL), or None when there is no logo."""
    try:
        return str(logo_file(request).stat().st_mtime_ns)
    except FileNotFoundError:
        return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


async def serve(request: web.Request) -> web.StreamResponse:
    content = await asyncio.to_thread(_read, logo_file(request))
    media_type = image_type(content[:16]) if content else None
    if content is None or media_type is None:  # no logo, or a file put there by hand that is no image
        raise web.HTTPNotFound(headers=SERVED_HEADERS)
    return web.Response(body=content, content_type=media_type, headers=SERVED_HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, serve)
