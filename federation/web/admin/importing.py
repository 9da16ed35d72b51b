"""Back-office import of activities from CSV or XLSX: upload, preview with per-row errors, confirm.

The preview writes nothing. It carries the valid rows' documents to the confirmation form; confirming checks
them again and writes them all in one transaction (RecordStore.create_many: two bulk statements).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from yarl import URL

from federation import appkeys
from federation.api.records import notify_committed
from federation.csv_safety import SafeCsvWriter
from federation.web.auth import require_user
from federation.web.context import WEB
from federation.web.forms import model_fields
from federation.web.i18n_request import language, translate
from federation.web.importer import (
    ACTIVITY,
    COLUMN_HELP,
    TEMPLATE_ROWS,
    ImportFileError,
    RowChecker,
    check_rows,
    read_table,
)
from federation.web.rendering import category_label, render
from federation.web.users import NODE_ROLES
from federation.web.validation import check_record

PATH = "/admin/import"


def _checker(request: web.Request) -> RowChecker:
    return RowChecker(request.config_dict[appkeys.PLUGINS], request.config_dict[WEB].translations["fr"])


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
        rows = check_rows(request, table, _checker(request))
    except ImportFileError as exc:
        return await _upload_page(request, translate(request, str(exc)), status=400)
    valid = [row.document for row in rows if row.valid]
    context = {
        "filename": upload.filename,
        "rows": rows,
        "valid_count": len(valid),
        "invalid_count": len(rows) - len(valid),
        "documents": json.dumps(valid, ensure_ascii=False),
    }
    return await render(request, "admin/import_preview.html", context)


async def confirm(request: web.Request) -> web.StreamResponse:
    await require_user(request, NODE_ROLES)
    form = await request.post()
    try:
        documents = json.loads(str(form.get("documents", "[]")))
    except json.JSONDecodeError:
        documents = None
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        return await _upload_page(request, translate(request, "The preview was lost: upload the file again."), 400)
    plugins = request.config_dict[appkeys.PLUGINS]
    builds: list[Callable[[dict[str, Any] | None, dict[str, Any]], Any]] = []
    for document in documents:
        valid, _problems = check_record(ACTIVITY, document, plugins, None)
        if valid is None:  # changed since the preview (a plugin's rule, or an edited page): write nothing
            return await _upload_page(request, translate(request, "The preview was lost: upload the file again."), 400)
        builds.append(_builder(valid.model_dump(mode="json")))
    stored = await request.config_dict[appkeys.STORE].create_many("activity", builds)
    for record in stored:
        await notify_committed(plugins, record, "created")
    raise web.HTTPSeeOther(URL("/admin/activities").with_query(done="imported", count=str(len(stored))))


def _builder(fields: dict[str, Any]) -> Callable[[dict[str, Any] | None, dict[str, Any]], Any]:
    return lambda _previous, envelope: ACTIVITY.record_model.model_validate({**fields, **envelope})


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
    app.router.add_get(PATH, upload, allow_head=False)
    app.router.add_post(PATH, upload)
    app.router.add_post(PATH + "/confirm", confirm)
    app.router.add_get(PATH + "/modele.csv", template, allow_head=False)
