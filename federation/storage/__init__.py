"""Storage: the tables, the engine, migrations, record writes and the read path (below protocol, api and web)."""
