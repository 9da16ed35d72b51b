"""Activity import from CSV or XLSX: read the rows, turn each into an activity document, check it like the API.

Nothing is written here: `check_rows` answers what would be imported and, per row, what is wrong or whether
the activity is already there (the same content as a stored activity, or an earlier row of the file); the
back-office shows that preview and writes the new valid rows only once the user confirms (in one transaction).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from federation import appkeys
from federation.csv_safety import restore
from federation.plugins import Plugins
from federation.registrations import fold_text
from federation.schema.records import RECORD_KINDS
from federation.schema.types import CATEGORY_LABELS
from federation.storage.service import RecordService
from federation.web import data, labels
from federation.web.admin.records import ACTIVITY_FIELDS
from federation.web.forms import (
    CHECKBOXES,
    CODES,
    LINES,
    FormField,
    field_for_pointer,
    model_fields,
    payload_from_form,
    split_items,
)
from federation.web.labels import N_
from federation.web.validation import check_record, explain

ACTIVITY = RECORD_KINDS["activity"]
MAX_ROWS = 5000  # also in the message of ImportFileError below
# Column headers (French first, as in the template) and the activity field each one fills.
COLUMNS: dict[str, str] = {
    "titre": "title",
    "type_service": "service_type",
    "domaine": "category",
    "description": "description",
    "statut": "status",
    "date_debut": "start_date",
    "date_fin": "end_date",
    "commune": "place.commune",
    "qpv": "place.qpv",
    "adresse": "place.address",
    "habitants": "inhabitants_involved",
    "partenaires": "partners",
}
# What each column holds, for the import page (English msgids, translated where shown).
COLUMN_HELP: dict[str, str] = {
    "titre": N_("Title of the activity (required)."),
    "type_service": N_("Service type: its key or its name, e.g. green_spaces (required)."),
    "domaine": N_("Field of action; optional, it follows from the service type."),
    "description": N_("Free text."),
    "statut": N_("planned, active, suspended or ended (prévue, en cours, suspendue, terminée); default active."),
    "date_debut": N_("Start date, 31/01/2026 or 2026-01-31."),
    "date_fin": N_("End date, same formats."),
    "commune": N_("INSEE commune code (5 characters, not the postal code)."),
    "qpv": N_("QPV codes, separated by spaces or commas."),
    "adresse": N_("Address."),
    "habitants": N_("Number of inhabitants involved."),
    "partenaires": N_("Partners' names, separated by semicolons."),
}
_ALIASES = {"title": "titre", "service_type": "type_service", "category": "domaine", "status": "statut"}
TEMPLATE_ROWS = [
    [*COLUMNS, "details.surface_m2"],
    [
        "Entretien des espaces verts des Lilas",
        "green_spaces",
        "",
        "Tonte et taille, trois équipes",
        "en cours",
        "01/03/2026",
        "",
        "93066",
        "QP093001",
        "Cité des Lilas",
        "12",
        "Ville de Saint-Denis; Plaine Commune Habitat",
        "12000",
    ],
]


class ImportFileError(Exception):
    """The file cannot be read as a table of activities (wrong format, no header, too many rows).

    Its message is an English msgid: translate it where it is shown."""


@dataclass
class RowResult:
    """One data row of the file: its line number, the activity it describes and what is wrong with it."""

    line: int
    title: str
    document: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    key: str = ""  # content_key of the checked activity (valid rows only)
    already_imported: bool = False  # the node has an activity with this content
    same_as_line: int | None = None  # an earlier row of the file has this content

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def to_import(self) -> bool:
        return self.valid and not self.already_imported and self.same_as_line is None


def content_key(document: Mapping[str, Any]) -> str:
    """What makes two activities the same one for the import: their fields (not the record's id, version or
    dates), normalised by the activity model, hashed. Computed from stored records: no column or table keeps it."""
    fields = {name: value for name, value in document.items() if name in ACTIVITY.data_model.model_fields}
    with contextlib.suppress(ValidationError):  # a record a newer version wrote is compared as it is
        fields = ACTIVITY.data_model.model_validate(fields).model_dump(mode="json")
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def imported_keys(request: web.Request) -> set[str]:
    """content_key of every live activity of this node (all of them, not one page)."""
    origin = request.config_dict[appkeys.STORE].node_id
    return {content_key(document) async for document in data.all_records(request, "activity", origin=origin)}


def _fold(text: str) -> str:
    return fold_text(text, keep=".")  # the dot of "details.surface_m2" column names stays


def _cell(value: Any) -> str:
    """A spreadsheet cell as text: dates in ISO form, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return restore(str(value).strip())


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """The file's rows as text cells: XLSX (first sheet) by its name or signature, CSV otherwise.

    CSV may be UTF-8 (with or without BOM) or Windows-1252 (Excel's French default), separated by ';' or ','.
    """
    if filename.lower().endswith(".xlsx") or content.startswith(b"PK\x03\x04"):
        return _read_xlsx(content)
    if filename.lower().endswith((".xls", ".ods")):
        raise ImportFileError(N_("Save the file as CSV or XLSX (Excel 2007 or later) first."))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    # restore(): a file exported by a node has a quote before text a spreadsheet would run; the text comes back.
    return [[restore(cell.strip()) for cell in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _read_xlsx(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of errors on a damaged file
        raise ImportFileError(N_("The XLSX file cannot be read: is it damaged?")) from exc
    try:
        sheet = workbook.worksheets[0]
        return [[_cell(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _lookup(options: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """folded spelling → key, for values given by key or by any of their labels."""
    found: dict[str, str] = {}
    for key, spellings in options.items():
        for spelling in (key, *spellings):
            found[_fold(spelling)] = key
    return found


class RowChecker:
    """Turns rows into activity documents and checks them as the record service will when they are written."""

    def __init__(self, store: RecordService, plugins: Plugins, french: Any) -> None:
        self.store = store
        self.plugins = plugins
        registry = plugins.registry
        self.categories = _lookup({str(c): labels_.values() for c, labels_ in CATEGORY_LABELS.items()})
        self.statuses = _lookup(
            {key: (english, french.gettext(english)) for key, english in labels.ACTIVITY_STATUSES.items()}
        )
        # Each service type's form (the activity's fields, then its details'), built once for every row.
        self.forms: dict[str, tuple[list[FormField], dict[str, FormField]]] = {}
        for key, service_type in registry.service_types.items():
            fields = [*ACTIVITY_FIELDS, *model_fields(service_type.details_model, "details")]
            self.forms[key] = (fields, {form_field.name: form_field for form_field in fields})

    def header(self, row: list[str]) -> list[str | None]:
        """The record path each column fills (None: a column this import does not know, ignored)."""
        paths: list[str | None] = []
        for cell in row:
            name = _fold(cell).replace(" ", "_")
            name = _ALIASES.get(name, name)
            paths.append(COLUMNS.get(name) or (name if name.startswith("details.") else None))
        return paths

    def check(self, request: web.Request, line: int, paths: list[str | None], row: list[str]) -> RowResult:
        values = {path: cell for path, cell in zip(paths, row, strict=False) if path and cell}
        result = RowResult(line, values.get("title", ""))
        key = self._service_type(values)
        if key is None:
            result.errors.append(self._message(request, "type_service", "unknown_service_type", ""))
            return result
        service_type = self.plugins.registry.service_types[key]
        fields, by_name = self.forms[key]
        unknown = sorted(path for path in values if path.startswith("details.") and path not in by_name)
        for path in unknown:
            result.errors.append(self._message(request, path, "extra_forbidden", ""))
        form_values = {name: self._value(by_name, name, text) for name, text in values.items() if name in by_name}
        document = payload_from_form(fields, form_values)
        document["service_type"] = key
        document["category"] = str(service_type.category)
        result.document = document
        if result.errors:
            return result
        self._validate(request, result, fields)
        return result

    def _service_type(self, values: Mapping[str, str]) -> str | None:
        wanted = values.get("service_type", "")
        if wanted in self.plugins.registry.service_types:
            return wanted
        category = self.categories.get(_fold(values.get("category", "")))
        return self.plugins.service_type_for_label(wanted, category) if wanted else None

    def _value(self, fields: Mapping[str, FormField], name: str, text: str) -> Any:
        form_field = fields[name]
        if name == "status":
            return self.statuses.get(_fold(text), text)
        if name in ("start_date", "end_date"):
            if match := re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", text):
                return f"{match[3]}-{int(match[2]):02d}-{int(match[1]):02d}"
            return text
        if form_field.widget == LINES:  # partners: one per line in a form, separated by semicolons in a file
            return split_items(LINES, text.replace(";", "\n"))
        if form_field.widget in (CODES, CHECKBOXES):
            return split_items(form_field.widget, text)
        return text

    def _validate(self, request: web.Request, result: RowResult, fields: list[FormField]) -> None:
        document = dict(result.document)
        document["partners"] = [{"name": name} for name in document.get("partners", [])]
        valid, problems = check_record(self.store, "activity", document, None)
        if valid is not None:
            result.key = content_key(valid.model_dump(mode="json"))
        for problem in problems:
            for error in problem.errors or [{"pointer": "", "detail": problem.detail, "code": ""}]:
                name = field_for_pointer(fields, error.get("pointer", ""))
                result.errors.append(self._message(request, _column_of(name), error.get("code", ""), error["detail"]))
        result.document = document

    @staticmethod
    def _message(request: web.Request, column: str, code: str, detail: str) -> str:
        message = explain(request, {"code": code, "detail": detail})
        return f"{column} : {message}" if column else message


def _column_of(path: str | None) -> str:
    if path is None:
        return ""
    for column, target in COLUMNS.items():
        if target == path:
            return column
    return path


def check_rows(
    request: web.Request, table: list[list[str]], checker: RowChecker, imported: Collection[str] = ()
) -> list[RowResult]:
    """Every data row of `table` (after its header line), checked; blank lines are skipped.

    `imported` holds the content keys of the node's activities: rows with one of them are already imported, and
    a row repeating an earlier valid row is marked with that row's line; neither is to be written."""
    if not table or not any(table[0]):
        raise ImportFileError(N_("The file is empty: its first line must name the columns (see the template)."))
    paths = checker.header(table[0])
    if "title" not in paths or "service_type" not in paths:
        raise ImportFileError(N_("The first line must name at least the columns titre and type_service."))
    rows = [(number, row) for number, row in enumerate(table[1:], start=2) if any(cell.strip() for cell in row)]
    if len(rows) > MAX_ROWS:
        raise ImportFileError(N_("The file has more than 5000 rows: split it."))
    results = [checker.check(request, number, paths, row) for number, row in rows]
    first_line: dict[str, int] = {}
    for result in results:
        if not result.valid:
            continue
        if result.key in imported:
            result.already_imported = True
        elif result.key in first_line:
            result.same_as_line = first_line[result.key]
        else:
            first_line[result.key] = result.line
    return results
