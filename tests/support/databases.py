"""Stores tested on both databases: the ``database`` fixture, one test run per database.

A test module imports it (``from support.databases import database``) and gives the
configuration it yields to a store's constructor beside the store's SQLite path:
"sqlite" names no database (the store opens its file under tmp_path), "postgresql" the
``pg_database`` fixture's fresh database."""

import pytest


class Settings:
    """A configuration that answers only what open_database reads."""

    def __init__(self, url: str = ""):
        self.url = url

    def get(self, section, option):
        if (section, option) == ("storage", "roomcal_database"):
            return self.url
        raise KeyError(option)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    if request.param == "sqlite":
        yield Settings()
        return
    url = request.getfixturevalue("pg_database")
    yield Settings(url)
    # This process's pool of that database goes before the database is dropped.
    from roomcal.storage.postgres.database import shared
    shared(url).close()
