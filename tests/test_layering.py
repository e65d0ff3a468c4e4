"""The import graph of m0sim and priot, read from the source with `ast` (imports at module level and inside
functions alike): no circle anywhere, and every layer imports only from below.

Layers, from the bottom: m0sim (the emulator, knows nothing of PRIOT); priot's core (data, models, quant,
intmath, ...), priot.backbones, priot.methods, priot.device; priot.recipe (a run's settings: it reads
priot.device.fit for the Pico-sized defaults); priot.experiments (the commands). A package's ``__main__`` is a
command: it may import from any layer, and nothing imports it.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("m0sim", "priot")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known) -> set[str]:
    """Every module of ``known`` that ``name`` imports anywhere in its file (``from a import b``: a.b when that
    is a module, else a)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # import a.b.c of a package: the deepest module that exists
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def _in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _edges(rule):
    return sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets if rule(a, b))


def test_the_graph_is_read():
    g = graph()
    assert "priot.device.fit" in g["priot.recipe"] and "m0sim.machine" in g["priot.device.runner"]


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_m0sim_imports_nothing_of_priot():
    assert _edges(lambda a, b: _in(a, "m0sim") and _in(b, "priot")) == []


def test_only_the_experiments_import_the_experiments():
    assert _edges(lambda a, b: _in(b, "priot.experiments") and not _in(a, "priot.experiments")) == []


def test_the_recipe_is_imported_only_by_the_experiments_and_commands():
    assert _edges(lambda a, b: _in(b, "priot.recipe") and not _in(a, "priot.experiments")
                  and not a.endswith(".__main__")) == []


def test_nothing_imports_a_command():
    assert _edges(lambda a, b: b.endswith(".__main__")) == []


def test_the_finder_sees_circles_and_function_level_imports(tmp_path):
    """The checks can fail: a circle closed by an import inside a function is found."""
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from priot.device import fit\n    import m0sim.machine as mm\n")
    known = {"priot.device.fit", "priot.device", "m0sim.machine", "m0sim"}
    assert _imports("x", src, known) == {"priot.device.fit", "m0sim.machine"}
