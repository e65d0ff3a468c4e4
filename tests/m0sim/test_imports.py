"""The emulator's import graph: no circles (counting imports inside functions) and nothing from priot.

A circle closed by an import inside a function still ties two modules together: neither can be understood,
tested or moved without the other. The graph is read from the source with `ast`, so nothing is imported.

Rerun by hand on any checkout: `python tests/m0sim/test_imports.py [PACKAGE_DIR]` prints each circle.
"""

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "m0sim"


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package (a package is its __init__.py)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(node, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement asks for (for `from X import a`, both X.a and X)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: from the module's own package upwards
        base = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module
    return [source] + [f"{source}.{alias.name}" for alias in node.names]


def import_graph(package: Path = PACKAGE) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> the package's modules it imports, module -> what it imports from outside the package),
    for imports at any depth (module level, inside functions, under `if`)."""
    mods = modules(package)
    graph, outside = {m: set() for m in mods}, {m: set() for m in mods}
    for mod, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported(node, mod, is_package)
            if isinstance(node, ast.ImportFrom):
                source, members = names[0], names[1:]
                # `from X import module` imports that module; `from X import name`, X itself
                targets = [m for m in members if m in mods] + ([source] if any(m not in mods for m in members) else [])
            else:
                targets = names
            for name in targets:
                # the longest prefix that is one of the package's modules (`import a.b.c` needs a.b.c)
                hit = next((".".join(name.split(".")[:k]) for k in range(name.count(".") + 1, 0, -1)
                            if ".".join(name.split(".")[:k]) in mods), None)
                if hit is None:
                    outside[mod].add(name)
                elif hit != mod:
                    graph[mod].add(hit)
    return graph, outside


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_emulator_has_no_import_circle():
    graph, _ = import_graph()
    assert len(graph) > 20, "the package was not found"
    assert circles(graph) == []


def test_the_emulator_imports_nothing_from_priot():
    _, outside = import_graph()
    offenders = {m: sorted(n for n in names if n.split(".")[0] == "priot") for m, names in outside.items()}
    assert {m: n for m, n in offenders.items() if n} == {}


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """The check itself: a circle closed only by an import inside a function is found."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("from . import a\nimport priot.x\n")
    graph, outside = import_graph(pkg)
    assert graph["pkg.c"] == {"pkg.a"}
    assert circles(graph) == [["pkg.a", "pkg.b"]]
    assert outside["pkg.c"] == {"priot.x"}


if __name__ == "__main__":
    g, out = import_graph(Path(sys.argv[1]) if len(sys.argv) > 1 else PACKAGE)
    found = circles(g)
    for group in found:
        print("circle:", " <-> ".join(group))
    for m, names in sorted(out.items()):
        for n in sorted(names):
            if n.split(".")[0] == "priot":
                print(f"{m} imports {n}")
    print(f"{len(g)} modules, {sum(map(len, g.values()))} imports inside the package, {len(found)} circles")
    sys.exit(1 if found else 0)
