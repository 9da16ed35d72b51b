"""French regions, departments and communes (INSEE codes), read once from the Etalab data shipped in `data/`.

`data/territories.json` (regions and departments, a few kilobytes) is read on first use of `REGIONS` or
`DEPARTMENTS`; `data/communes.json.gz` (every current commune and municipal arrondissement with its postal codes,
and the commune codes retired since 2019 with the code that replaced them) only when a commune is looked up.
Overseas collectivities (Saint-Barthélemy 977, Saint-Martin 978, French Polynesia 987, New Caledonia 988, …)
are, as in the Etalab data, their own department and their own "region" with the same code.
`data/README.md` names the source, its version and its licence; `scripts/refresh_reference_data.py` rebuilds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

__all__ = [
    "DEPARTMENTS",
    "REGIONS",
    "Commune",
    "Department",
    "Region",
    "arrondissements_of",
    "commune",
    "communes_in_department",
    "communes_with_postal_code",
    "department_code_for_commune",
    "department_for_commune",
    "region_for_commune",
    "replacement_of",
]

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True)
class Region:
    """A French region, identified by its INSEE code (e.g. "11" for Île-de-France)."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Department:
    """A French department, identified by its INSEE code (e.g. "2A", "75", "974")."""

    code: str
    name: str
    region_code: str


@dataclass(frozen=True, slots=True)
class Commune:
    """A current commune, or a municipal arrondissement of Paris, Lyon or Marseille (`parent` is then the city)."""

    code: str
    name: str
    department_code: str
    parent: str | None
    postal_codes: tuple[str, ...]

    def label(self) -> str:
        """How a person recognises it: "Montreuil (93048)"."""
        return f"{self.name} ({self.code})"


@cache
def _territories() -> tuple[Mapping[str, Region], Mapping[str, Department]]:
    document = json.loads((DATA_DIR / "territories.json").read_text(encoding="utf-8"))
    regions = {code: Region(code, name) for code, name in document["regions"]}
    departments = {code: Department(code, name, region) for code, name, region in document["departments"]}
    return MappingProxyType(regions), MappingProxyType(departments)


# One row per commune: [code, name, department, city of an arrondissement or None, postal codes].
_Row = tuple[str, str, str, "str | None", list[str]]


@cache
def _communes() -> tuple[Mapping[str, _Row], Mapping[str, str]]:
    """Rows by code, and retired codes with their replacement. Rows become `Commune` objects only when asked for:
    building 35,000 objects up front tripled the time of the first lookup."""
    import gzip  # here: most commands never look a commune up, and importing gzip costs a few milliseconds

    document = json.loads(gzip.decompress((DATA_DIR / "communes.json.gz").read_bytes()))
    return MappingProxyType({row[0]: row for row in document["communes"]}), MappingProxyType(document["retired"])


@cache
def _postal_index() -> tuple[Mapping[str, tuple[str, ...]], Mapping[str, tuple[str, ...]]]:
    """Codes by postal code, and municipal arrondissements by city: built the first time one is needed."""
    by_postal_code: dict[str, list[str]] = {}
    arrondissements: dict[str, list[str]] = {}
    for code, _name, _department, parent, postal_codes in _communes()[0].values():
        if parent is not None:
            arrondissements.setdefault(parent, []).append(code)
        for postal_code in postal_codes:
            by_postal_code.setdefault(postal_code, []).append(code)
    return (
        MappingProxyType({key: tuple(codes) for key, codes in by_postal_code.items()}),
        MappingProxyType({key: tuple(codes) for key, codes in arrondissements.items()}),
    )


Value = TypeVar("Value")


class _LazyTable(Mapping[str, Value]):
    """A read-only mapping whose rows are read from the data files the first time it is used."""

    def __init__(self, load: Callable[[], Mapping[str, Value]]) -> None:
        self._load = load

    def __getitem__(self, key: str) -> Value:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


REGIONS: Mapping[str, Region] = _LazyTable(lambda: _territories()[0])
DEPARTMENTS: Mapping[str, Department] = _LazyTable(lambda: _territories()[1])


@lru_cache(maxsize=4096)  # bounded: codes come from clients, and every miss would be remembered too
def commune(code: str) -> Commune | None:
    """The current commune or municipal arrondissement with this INSEE code, or None."""
    row = _communes()[0].get(code)
    return None if row is None else _commune_of(row)


def _commune_of(row: _Row) -> Commune:
    code, name, department, parent, postal_codes = row
    return Commune(code, name, department, parent, tuple(postal_codes))


def replacement_of(code: str) -> str | None:
    """The code that replaced a commune code retired since 2019 (a merger), or None if it was not retired."""
    return _communes()[1].get(code)


def communes_with_postal_code(postal_code: str) -> list[Commune]:
    """Communes served by a postal code; a municipal arrondissement rather than its city when one matches."""
    rows = _communes()[0]
    found = [_commune_of(rows[code]) for code in _postal_index()[0].get(postal_code, ())]
    arrondissement_parents = {item.parent for item in found if item.parent is not None}
    return [item for item in found if item.code not in arrondissement_parents]


def arrondissements_of(code: str) -> tuple[str, ...]:
    """The municipal arrondissements of Paris (75056), Lyon (69123) or Marseille (13055); () for other codes."""
    return _postal_index()[1].get(code, ())


def communes_in_department(code: str) -> list[Commune]:
    """The current communes of a department, in code order (municipal arrondissements left out)."""
    return [_commune_of(row) for row in _communes()[0].values() if row[2] == code and row[3] is None]


def department_code_for_commune(insee_code: str) -> str:
    """The department code of a commune, an arrondissement or a retired commune ("2A004" -> "2A").

    Raises ValueError if the code is no commune of the reference data.
    """
    code = insee_code.upper()
    found = commune(code) or commune(replacement_of(code) or "")
    if found is None:
        raise ValueError(f"INSEE commune code {insee_code!r} does not exist")
    return found.department_code


def department_for_commune(insee_code: str) -> Department:
    """Return the department containing the commune with the given INSEE code."""
    return DEPARTMENTS[department_code_for_commune(insee_code)]


def region_for_commune(insee_code: str) -> Region:
    """Return the region containing the commune with the given INSEE code."""
    return REGIONS[department_for_commune(insee_code).region_code]
