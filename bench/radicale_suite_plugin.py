"""pytest plugin for bench/radicale_suite.py (loaded with ``-p radicale_suite_plugin``).

Runs Radicale's own tests from a checkout against the *installed* Radicale, with the store
named in $RADICALE_SUITE_STORE in place of multifilesystem:

- ``radicale.tests`` (BaseTest, helpers, static files, custom plugins) is taken from the
  checkout in $RADICALE_SUITE_SRC: the wheel ships only ``radicale/tests/custom``.
- ``BaseTest.configure`` (every test's way to set options and build the Application) gets one
  step more: whenever the configured storage type is ``multifilesystem`` (Radicale's default,
  or a test's explicit choice) it becomes ours, with the options our store needs. Types a test
  chooses on purpose (multifilesystem_nolock, the custom test storages) are left alone, and so
  are auth and rights: the tests keep their own.
"""

import importlib.util
import os
import shutil
import sys
import tempfile

import pytest

STORE = os.environ.get("RADICALE_SUITE_STORE", "multifilesystem")
SRC = os.environ.get("RADICALE_SUITE_SRC", "")
TYPES = {"multifilesystem": None, "file": "roomcal.storage", "postgresql": "roomcal.storage.postgres"}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_cleanups = []   # this test's side folders and databases, removed after it


def _graft_tests(src: str) -> None:
    """``radicale.tests`` from the checkout, on top of the installed ``radicale``."""
    import radicale
    if os.path.abspath(radicale.__file__).startswith(os.path.abspath(src) + os.sep):
        raise pytest.UsageError(f"radicale was imported from the checkout ({radicale.__file__}), "
                                "not the installed one: run pytest outside the checkout")
    folder = os.path.join(src, "radicale", "tests")
    spec = importlib.util.spec_from_file_location(
        "radicale.tests", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["radicale.tests"] = module
    radicale.tests = module
    spec.loader.exec_module(module)


def _side_folder() -> str:
    path = tempfile.mkdtemp(prefix="radicale-suite-")
    _cleanups.append(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


def _fresh_database() -> str:
    if os.path.join(REPO, "tests") not in sys.path:
        sys.path.insert(0, os.path.join(REPO, "tests"))
    from support import postgres
    url = postgres.fresh_database()
    _cleanups.append(lambda: postgres.drop(url))
    return url


def _store_options(test) -> dict:
    """Our store's options for this test: made once per test, so that data survives the
    test's later ``configure`` calls (each builds a new Application)."""
    options = test.__dict__.get("_suite_store_options")
    if options is None:
        side = _side_folder()
        # The outbox and templates default to the folder *above* filesystem_folder (the
        # data folder of a real install): here that is the shared temp folder.
        options = {"type": TYPES[STORE],
                   "roomcal_outbox": os.path.join(side, "outbox.sqlite"),
                   "roomcal_templates": os.path.join(side, "templates")}
        if STORE == "postgresql":
            options["roomcal_database"] = _fresh_database()
        test._suite_store_options = options
    return options


def _swap_storage() -> None:
    from radicale.tests import BaseTest
    configure = BaseTest.configure

    def configure_with_our_store(self, config_):
        self.configuration.update(config_, "test", privileged=True)
        if self.configuration.get("storage", "type") == "multifilesystem":
            self.configuration.update({"storage": _store_options(self)}, "radicale-suite",
                                      privileged=True)
        configure(self, {})   # Radicale's own: builds the Application

    BaseTest.configure = configure_with_our_store


def pytest_configure(config):
    if STORE not in TYPES:
        raise pytest.UsageError(f"RADICALE_SUITE_STORE={STORE!r}: one of {', '.join(TYPES)}")
    _graft_tests(SRC)
    if TYPES[STORE] is not None:
        _swap_storage()


def pytest_report_header(config):
    import radicale
    return [f"radicale-suite: store {STORE} ({TYPES[STORE] or 'Radicale stock'}), "
            f"radicale {radicale.VERSION} from {os.path.dirname(radicale.__file__)}, "
            f"tests from {SRC}"]


@pytest.fixture(autouse=True)
def _suite_cleanup():
    yield
    while _cleanups:
        _cleanups.pop()()


def pytest_unconfigure(config):
    if STORE == "postgresql" and "support.postgres" in sys.modules:
        sys.modules["support.postgres"].drop_template()
