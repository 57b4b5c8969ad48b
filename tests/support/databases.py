"""Stores tested on both databases: the ``database`` fixture, one test run per database.

A test module imports it (``from support.databases import database``) and gives the
configuration it yields to a store's constructor beside the store's SQLite path: "sqlite"
names no database (the store opens its file under tmp_path), "postgresql" the
``pg_database`` fixture's fresh database (dropped afterwards, with this process's pool)."""

import pytest
from radicale import config as radicale_config


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else ""
    configuration = radicale_config.Configuration(radicale_config.DEFAULT_CONFIG_SCHEMA)
    configuration.update({"storage": {"type": "roomcal.storage", "filesystem_folder": str(tmp_path),
                                      "roomcal_database": url}}, "test", privileged=True)
    return configuration
