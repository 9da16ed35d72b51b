"""French regions, departments and communes (INSEE codes), read once from the Etalab data shipped in `data/`.

`data/territories.json` (regions and departments, a few kilobytes) is read on first use of `REGIONS` or
`DEPARTMENTS`; `data/communes.json.gz` (every current commune and municipal arrondissement with its postal codes,
and the commune codes retired since 2019 with the code that replaced them) only when a commune is looked up.
Overseas collectivities (Saint-Barthélemy 977, Saint-Martin 978, French Polynesia 987, New Caledonia 988, …)
are, as in the Etalab data, their own department and their own "region" with the same code.
`data/README.md` names the source, its version and its licence; `scripts/refresh_reference_data.py` rebuilds it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
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


@dataclass(frozen=True, slots=True)
class _CommuneIndex:
    communes: Mapping[str, Commune]
    retired: Mapping[str, str]
    by_postal_code: Mapping[str, tuple[str, ...]]
    arrondissements: Mapping[str, tuple[str, ...]]


@cache
def _territories() -> tuple[Mapping[str, Region], Mapping[str, Department]]:
    document = json.loads((DATA_DIR / "territories.json").read_text(encoding="utf-8"))
    regions = {code: Region(code, name) for code, name in document["regions"]}
    departments = {code: Department(code, name, region) for code, name, region in document["departments"]}
    return MappingProxyType(regions), MappingProxyType(departments)


@cache
def _commune_index() -> _CommuneIndex:
    document = json.loads(gzip.decompress((DATA_DIR / "communes.json.gz").read_bytes()))
    communes = {
        code: Commune(code, name, department, parent, tuple(postal_codes))
        for code, name, department, parent, postal_codes in document["communes"]
    }
    by_postal_code: dict[str, list[str]] = {}
    arrondissements: dict[str, list[str]] = {}
    for item in communes.values():
        if item.parent is not None:
            arrondissements.setdefault(item.parent, []).append(item.code)
        for postal_code in item.postal_codes:
            by_postal_code.setdefault(postal_code, []).append(item.code)
    return _CommuneIndex(
        communes=MappingProxyType(communes),
        retired=MappingProxyType(document["retired"]),
        by_postal_code=MappingProxyType({key: tuple(codes) for key, codes in by_postal_code.items()}),
        arrondissements=MappingProxyType({key: tuple(codes) for key, codes in arrondissements.items()}),
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


def commune(code: str) -> Commune | None:
    """The current commune or municipal arrondissement with this INSEE code, or None."""
    return _commune_index().communes.get(code)


def replacement_of(code: str) -> str | None:
    """The code that replaced a commune code retired since 2019 (a merger), or None if it was not retired."""
    return _commune_index().retired.get(code)


def communes_with_postal_code(postal_code: str) -> list[Commune]:
    """Communes served by a postal code; a municipal arrondissement rather than its city when one matches."""
    index = _commune_index()
    found = [index.communes[code] for code in index.by_postal_code.get(postal_code, ())]
    arrondissement_parents = {item.parent for item in found if item.parent is not None}
    return [item for item in found if item.code not in arrondissement_parents]


def arrondissements_of(code: str) -> tuple[str, ...]:
    """The municipal arrondissements of Paris (75056), Lyon (69123) or Marseille (13055); () for other codes."""
    return _commune_index().arrondissements.get(code, ())


def communes_in_department(code: str) -> list[Commune]:
    """The current communes of a department, in code order (municipal arrondissements left out)."""
    return [item for item in _commune_index().communes.values() if item.department_code == code and not item.parent]


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
