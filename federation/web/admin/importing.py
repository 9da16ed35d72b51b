"""Back-office import of activities from CSV or XLSX: upload, preview with per-row errors, confirm.

The preview writes nothing. It carries the new valid rows' documents to the confirmation form; confirming checks
them again, leaves out those the node has by then (a second click, another tab), and writes the rest in one
transaction (the record service's create_many: two bulk statements).
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from aiohttp import web
from yarl import URL

from federation import appkeys
from federation.csv_safety import SafeCsvWriter
from federation.problems import Problem
from federation.web.auth import require_user
from federation.web.context import WEB
from federation.web.forms import model_fields
from federation.web.i18n_request import language, translate
from federation.web.importer import (
    COLUMN_HELP,
    TEMPLATE_ROWS,
    ImportFileError,
    RowChecker,
    check_rows,
    content_key,
    imported_keys,
    read_table,
)
from federation.web.rendering import category_label, render
from federation.web.users import NODE_ROLES

PATH = "/admin/import"
# Confirmations one at a time: each reads what is already imported, then writes; two at once would both write.
CONFIRMING = web.AppKey("import_confirming", asyncio.Lock)


def _checker(request: web.Request) -> RowChecker:
    config = request.config_dict
    return RowChecker(config[appkeys.STORE], config[appkeys.PLUGINS], config[WEB].translations["fr"])


async def _upload_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    lang = language(request)
    registry = request.config_dict[appkeys.PLUGINS].registry
    service_types = [
        {
            "key": key,
            "label": st.labels()[lang],
            "category": category_label(str(st.category), lang),
            "columns": [(field.name, field.label) for field in model_fields(st.details_model, "details")],
        }
        for key, st in sorted(registry.service_types.items())
    ]
    context = {"columns": COLUMN_HELP, "service_types": service_types, "error": error}
    return await render(request, "admin/import.html", context, status=status)


async def upload(request: web.Request) -> web.StreamResponse:
    await require_user(request, NODE_ROLES)
    if request.method == "GET":
        return await _upload_page(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _upload_page(request, translate(request, "Choose a CSV or XLSX file."), status=400)
    try:
        table = read_table(upload.filename, upload.file.read())
        rows = check_rows(request, table, _checker(request), await imported_keys(request))
    except ImportFileError as exc:
        return await _upload_page(request, translate(request, str(exc)), status=400)
    new = [row.document for row in rows if row.to_import]
    context = {
        "filename": upload.filename,
        "rows": rows,
        "valid_count": len(new),
        "invalid_count": sum(1 for row in rows if not row.valid),
        "duplicate_count": sum(1 for row in rows if row.valid and not row.to_import),
        "documents": json.dumps(new, ensure_ascii=False),
    }
    return await render(request, "admin/import_preview.html", context)


async def confirm(request: web.Request) -> web.StreamResponse:
    user = await require_user(request, NODE_ROLES)
    form = await request.post()
    try:
        documents = json.loads(str(form.get("documents", "[]")))
    except json.JSONDecodeError:
        documents = None
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        return await _upload_page(request, translate(request, "The preview was lost: upload the file again."), 400)
    store = request.config_dict[appkeys.STORE]
    keys = []
    for document in documents:
        try:
            keys.append(content_key(store.validate("activity", document).model_dump(mode="json")))
        except Problem:  # changed since the preview (a plugin's rule, or an edited page): write nothing
            return await _upload_page(request, translate(request, "The preview was lost: upload the file again."), 400)
    async with request.app[CONFIRMING]:
        present = await imported_keys(request)
        new: list[dict[str, Any]] = []
        for key, document in zip(keys, documents, strict=True):
            if key not in present:
                present.add(key)
                new.append(document)
        stored = await store.create_many("activity", new, f"web:{user.username}") if new else []
    query = {"done": "imported", "count": str(len(stored)), "skipped": str(len(documents) - len(stored))}
    raise web.HTTPSeeOther(URL("/admin/activities").with_query(query))


async def template(request: web.Request) -> web.StreamResponse:
    """A CSV file with the expected columns and one example row, ready to open in a spreadsheet."""
    buffer = io.StringIO()
    SafeCsvWriter(buffer, delimiter=";").writerows(TEMPLATE_ROWS)
    return web.Response(
        body=("\ufeff" + buffer.getvalue()).encode("utf-8"),  # the BOM makes Excel read UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="modele-import-activites.csv"'},
    )


def add_routes(app: web.Application) -> None:
    app[CONFIRMING] = asyncio.Lock()
    app.router.add_get(PATH, upload, allow_head=False)
    app.router.add_post(PATH, upload)
    app.router.add_post(PATH + "/confirm", confirm)
    app.router.add_get(PATH + "/modele.csv", template, allow_head=False)
