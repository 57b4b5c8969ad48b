"""Engines the tests share with the bench scripts: the rights matrix (``rights_matrix``) and
the fuzzer (``fuzz``).

The tests import them as ``support.<module>`` (tests/ is on sys.path, as for conftest); the
bench scripts put tests/ on sys.path first.  Both talk to a running server over HTTP only and
import none of the project's code (tests/test_rights_matrix.py checks it for the oracle).
"""
