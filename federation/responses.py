"""JSON answers: the content type and the response every JSON handler (API, discovery, plugins) returns.

Below the API and the protocol alike, so the protocol's discovery endpoints answer as the API does without
importing it.
"""

from __future__ import annotations

from aiohttp import web

JSON_CONTENT_TYPE = "application/json"


def json_response(
    body: str | bytes, *, status: int = 200, etag: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.Response(
        body=body.encode("utf-8") if isinstance(body, str) else body,
        status=status,
        content_type=JSON_CONTENT_TYPE,
        headers=headers,
    )
    if etag:
        response.headers["ETag"] = etag
    return response
