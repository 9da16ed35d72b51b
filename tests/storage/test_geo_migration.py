"""Revision 0011 gives a hub created before overseas collectivities were in the reference data their rows."""

from __future__ import annotations

from sqlalchemy import text

from federation.config import Settings
from federation.schema.geo import DEPARTMENTS, REGIONS
from federation.storage import migrate
from federation.storage.engine import create_engine


async def test_overseas_collectivities_are_added_to_an_older_hubs_tables(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine, "0008")
        async with engine.begin() as connection:  # as revision 0003 wrote them with the COG tables of 2024
            await connection.execute(text("DELETE FROM geo_departments WHERE length(code) = 3 AND code > '976'"))
            await connection.execute(text("DELETE FROM geo_departments WHERE code = '975'"))
            await connection.execute(text("DELETE FROM geo_regions WHERE length(code) = 3"))
            assert await connection.scalar(text("SELECT COUNT(*) FROM geo_departments")) == 101
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            departments = dict((await connection.execute(text("SELECT code, region_code FROM geo_departments"))).all())
            regions = set((await connection.execute(text("SELECT code FROM geo_regions"))).scalars())
    finally:
        await engine.dispose()
    assert departments == {code: department.region_code for code, department in DEPARTMENTS.items()}
    assert (departments["978"], departments["987"]) == ("978", "987")
    assert regions == set(REGIONS)
