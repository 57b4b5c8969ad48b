"""A small, deterministic subset of bench/stress_fuzz.py (issue 7): generated malformed
requests of every category -> no answer >= 500, rejected writes store nothing, the server
still answers.  The generators and the fuzzer are ``tests/support/fuzz.py``; the full run
(10 000+ inputs): ``.venv/bin/python bench/stress_fuzz.py``."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_no_500
from support import fuzz

EXAMPLES = 50  # per category: 300 in all


@pytest.fixture(scope="module")
def fuzzer(make_server):
    server = make_server(start=False)
    fuzz.seed_server(server.cli)
    server.start()
    f = fuzz.Fuzzer(server.url)
    f.setup()
    yield f
    assert f.alive()
    assert_no_500(server)


@pytest.mark.parametrize("category", fuzz.CATEGORIES)
def test_fuzz(fuzzer, category):
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(min_value=0, max_value=2 ** 32))
    def one(seed):
        before = len(fuzzer.failures)
        fuzzer.one(category, random.Random(seed))
        assert len(fuzzer.failures) == before, fuzzer.failures[before:]
    one()
    assert fuzzer.counts[category] >= EXAMPLES
