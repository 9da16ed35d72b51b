"""The plugin API for files a plugin serves: streaming table writers (CSV, French CSV, JSON, XLSX, ODS) and GeoJSON.

Import it where tables are written only: it loads the spreadsheet libraries, which most commands do without.
"""

from __future__ import annotations

from federation.tables import FORMATS, Column, write_geojson, write_table

__all__ = [
    "FORMATS",  # the table formats by key (`csv`, `csv-fr`, `json`, `xlsx`, `ods`): media type and extension
    "Column",  # a table column: key, French and English labels, kind (text, integer, number, date, figure)
    "write_geojson",  # streams mappings (`lon`, `lat`, properties) as a GeoJSON FeatureCollection; the count
    "write_table",  # streams rows as a table in one of FORMATS through a Sink, header rows first; the count
]
