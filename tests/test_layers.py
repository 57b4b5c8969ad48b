"""The three layers, read from the source (no server): storage imports neither server nor
plugins, plugins do not import server, the rule modules reach no Radicale and no HTTP,
and our modules import each other without a cycle.  Imports inside functions count:
they are how cycles hid before."""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = {"storage": "roomcal.storage", "server": "roomcal.server", "plugins": "roomcal.plugins"}
# The booking core and the rules it applies: pure, so they are tested without HTTP and a
# second store can use them.  (Modules named here that do not exist yet are skipped.)
RULE_MODULES = ["booking", "rules", "durations", "openinghours", "rooms", "instances",
                "availability", "overlap", "roles", "reschedule", "screen", "errors", "text", "quotas"]
NOT_IN_RULES = {"radicale", "werkzeug", "http", "wsgiref", "gunicorn"}
# Importing a layer below is the point; importing one above is the break.
MAY_NOT_IMPORT = {"roomcal.storage": ("roomcal.server", "roomcal.plugins"),
                  "roomcal.plugins": ("roomcal.server",)}


def _modules() -> dict:
    """roomcal.* module name -> its source file."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _imported_names(name: str, path: pathlib.Path):
    """Every name an import statement of the module names, absolute, wherever it stands."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: from the module's own package
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".rstrip(".")
            for alias in node.names:   # "from pkg import module" imports the module
                full = f"{base}.{alias.name}"
                yield full if full in MODULES else base


def _ours(imported: str):
    """The roomcal module an imported name lives in (the longest known prefix), or None."""
    while imported:
        if imported in MODULES:
            return imported
        imported = imported.rpartition(".")[0]
    return None


GRAPH = {name: {_ours(i) for i in _imported_names(name, path)} - {None, name}
         for name, path in MODULES.items()}
EXTERNAL = {name: {i.split(".")[0] for i in _imported_names(name, path) if _ours(i) is None}
            for name, path in MODULES.items()}


def _reach(start: str) -> set:
    seen, todo = set(), [start]
    while todo:
        for following in GRAPH[todo.pop()] - seen:
            seen.add(following)
            todo.append(following)
    return seen


def test_the_source_is_found():
    assert {"roomcal.storage.store", "roomcal.server.front", "roomcal.plugins.rights",
            "roomcal.storage.booking"} <= set(MODULES)


def test_no_module_imports_the_folders_by_their_bare_names():
    """Installed, the packages are roomcal.storage etc.: ``import storage`` would load a
    second copy of a module (or another distribution's)."""
    bare = {name: sorted(i for i in _imported_names(name, path) if i.split(".")[0] in PACKAGES)
            for name, path in MODULES.items()}
    assert {name: found for name, found in bare.items() if found} == {}


@pytest.mark.parametrize("layer", sorted(MAY_NOT_IMPORT))
def test_a_layer_does_not_import_the_layers_above(layer):
    broken = {name: sorted(t for t in targets if t.startswith(MAY_NOT_IMPORT[layer]))
              for name, targets in GRAPH.items() if name.startswith(layer)}
    assert {name: targets for name, targets in broken.items() if targets} == {}


@pytest.mark.parametrize("rule", [m for m in RULE_MODULES if f"roomcal.storage.{m}" in MODULES])
def test_rule_modules_reach_no_radicale_and_no_http(rule):
    name = f"roomcal.storage.{rule}"
    reached = {name} | _reach(name)
    found = {module: sorted(EXTERNAL[module] & NOT_IN_RULES) for module in reached}
    assert {module: names for module, names in found.items() if names} == {}


def test_no_import_cycle_among_our_modules():
    # Tarjan's strongly connected components; a component of more than one module is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(root):
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, following = work[-1]
            for nxt in following:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(GRAPH[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == [], "\n".join(" <-> ".join(c) for c in cycles)
