#!/usr/bin/env python3
"""Radicale's own test suite against our stores (issue 15: "no test that passes on
multifilesystem may fail").

The Radicale wheel and sdist do not ship the tests, so this takes a Radicale checkout
(``--radicale-src DIR``) or extracts one from a git directory (``--radicale-git GITDIR
[--ref REF]``, e.g. the bare mirror of Kozea/Radicale) into a temporary folder. Nothing of
Radicale's is copied into this repository.

For each store it runs pytest in a subprocess on Radicale's test modules, with the tests'
storage swapped by ``bench/radicale_suite_plugin.py`` (see there), and the *installed*
Radicale as the code under test. Then it prints, per store, passed/failed/skipped counts and
the tests that pass on stock multifilesystem but not on the store, with the first lines of
each failure.

    .venv/bin/python bench/radicale_suite.py --radicale-git /work/.mirror/Kozea+Radicale/repo \\
        --ref master --store multifilesystem --store file [--store postgresql]
        [--modules test_base.py,test_storage.py] [-n 4] [-k EXPR] [--json out.json] [--keep]

``--store`` may be repeated; multifilesystem is always run, as the baseline. Exit status 1
when a test passes on multifilesystem and fails on another store, 2 when a run did not
produce results (the checkout does not import, pytest usage error).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

BENCH = os.path.dirname(os.path.abspath(__file__))
STORES = ("multifilesystem", "file", "postgresql")
DEFAULT_MODULES = "test_base.py,test_storage.py"


def installed_radicale_version() -> str:
    import radicale
    return radicale.VERSION


def checkout_version(src: str) -> str:
    try:
        with open(os.path.join(src, "pyproject.toml")) as f:
            found = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    except OSError:
        return "?"
    return found.group(1) if found else "?"


def extract(git_dir: str, ref: str, into: str) -> str:
    """``git archive REF`` of the tests and pyproject.toml into a new folder (with
    radicale/__init__.py, so that pytest names the modules radicale.tests.*)."""
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", ref, "radicale/__init__.py",
                              "radicale/tests", "pyproject.toml"], check=True, capture_output=True).stdout
    os.makedirs(into)
    subprocess.run(["tar", "x", "-C", into], input=archive, check=True)
    return into


def default_ref(git_dir: str) -> str:
    tag = "v" + installed_radicale_version()
    found = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "-q", "--verify",
                            f"refs/tags/{tag}"], capture_output=True)
    if found.returncode != 0:
        sys.exit(f"{git_dir} has no tag {tag} (the installed Radicale); pass --ref (e.g. master)")
    return tag


def run_store(store: str, src: str, modules, workdir: str, jobs: int, keyword: str) -> dict:
    """{test id: (outcome, first lines)} of one pytest run; outcome passed/failed/skipped."""
    junit = os.path.join(workdir, f"{store}.xml")
    env = dict(os.environ, RADICALE_SUITE_STORE=store, RADICALE_SUITE_SRC=src,
               PYTHONSAFEPATH="1",   # never import radicale from the checkout: cwd stays out
               PYTHONPATH=os.pathsep.join([BENCH] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    command = [sys.executable, "-m", "pytest", "-p", "radicale_suite_plugin", "-p", "no:cacheprovider",
               "-o", "addopts=", "--rootdir", src, "-q", "--tb=short", f"--junitxml={junit}"]
    if jobs:
        command += ["-n", str(jobs)]
    if keyword:
        command += ["-k", keyword]
    command += [os.path.join(src, "radicale", "tests", m) for m in modules]
    log = os.path.join(workdir, f"{store}.log")
    with open(log, "w") as out:
        status = subprocess.run(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if status not in (0, 1) or not os.path.exists(junit):
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"pytest for {store} exited {status} without results:\n{tail}")
    return parse_junit(junit)


def parse_junit(path: str) -> dict:
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module, _, klass = case.get("classname", "").rpartition(".")
        if not klass[:1].isupper():   # a test function, not a method
            module, klass = case.get("classname", ""), ""
        test_id = "::".join(p for p in (module.rpartition(".")[2] + ".py", klass, case.get("name")) if p)
        outcome, lines = "passed", []
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                lines = first_lines(found)
                break
        if test_id in results and results[test_id][0] == "failed":
            continue   # an error in teardown after a pass: keep the failure
        results[test_id] = (outcome, lines)
    return results


def first_lines(element, count: int = 6):
    """The failure's message and its ``E`` lines (the assertion, the exception)."""
    message = (element.get("message") or "").strip().splitlines()
    errors = [line[1:].strip() for line in (element.text or "").splitlines() if line.startswith("E ")]
    lines = message[:1] + [line for line in errors if line and line not in message[:1]]
    return lines[:count]


def summary(results: dict) -> dict:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome, _ in results.values():
        counts[outcome] += 1
    return counts


def regressions(baseline: dict, other: dict) -> dict:
    """Tests passing on the baseline and not passing (failed, or missing) on the other."""
    return {test: other.get(test, ("missing", []))
            for test, (outcome, _) in sorted(baseline.items())
            if outcome == "passed" and other.get(test, ("missing",))[0] != "passed"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--radicale-src", help="a Radicale checkout (its radicale/tests is used)")
    where.add_argument("--radicale-git", help="a Radicale git directory to extract the tests from")
    parser.add_argument("--ref", help="with --radicale-git: the commit (default: tag v<installed version>)")
    parser.add_argument("--store", action="append", choices=STORES, default=[],
                        help="a store to compare with multifilesystem (repeatable; default: file)")
    parser.add_argument("--modules", default=DEFAULT_MODULES,
                        help=f"Radicale test modules, comma-separated (default {DEFAULT_MODULES})")
    parser.add_argument("-n", "--jobs", type=int, default=4, help="pytest-xdist workers (0: none)")
    parser.add_argument("-k", dest="keyword", default="", help="pytest -k expression")
    parser.add_argument("--json", help="write {store: {test: [outcome, lines]}} and the differences here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (pytest logs, junit XML)")
    args = parser.parse_args(argv)

    stores = ["multifilesystem"] + [s for s in dict.fromkeys(args.store or ["file"]) if s != "multifilesystem"]
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    workdir = tempfile.mkdtemp(prefix="radicale-suite-")
    try:
        src = args.radicale_src
        if args.radicale_git:
            src = extract(args.radicale_git, args.ref or default_ref(args.radicale_git),
                          os.path.join(workdir, "radicale-src"))
        src = os.path.abspath(src)
        installed, tests = installed_radicale_version(), checkout_version(src)
        print(f"Radicale installed {installed}, tests from {src} (version {tests})")
        if tests != installed:
            print("  note: the tests are not the installed version's; a test may fail on every store "
                  "because of that, and only differences between stores count")
        results = {}
        for store in stores:
            try:
                results[store] = run_store(store, src, modules, workdir, args.jobs, args.keyword)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                return 2
            counts = summary(results[store])
            print(f"{store:16} passed {counts['passed']:4}  failed {counts['failed']:4}  "
                  f"skipped {counts['skipped']:4}")
        baseline, found = results["multifilesystem"], {}
        for store in stores[1:]:
            found[store] = regressions(baseline, results[store])
            print(f"\npasses on multifilesystem, fails on {store}: {len(found[store])}")
            for test, (outcome, lines) in found[store].items():
                print(f"  {test} [{outcome}]")
                for line in lines:
                    print(f"      {line[:160]}")
        failing_everywhere = sorted(t for t, (o, _) in baseline.items() if o == "failed")
        if failing_everywhere:
            print(f"\nfailing on multifilesystem too (not counted): {len(failing_everywhere)}")
            for test in failing_everywhere:
                print(f"  {test}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"installed": installed, "tests_version": tests, "results": results,
                           "regressions": found}, f, indent=1)
        if args.keep:
            print(f"\nwork folder kept: {workdir}")
        return 1 if any(found.values()) else 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
