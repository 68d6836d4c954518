"""The house rules of docs/architecture.md, checked from the source: the import graph of the host package has
no cycle (between modules or between subpackages) and no forbidden arrow; only cli/ imports argparse; modules and
functions stay small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "host" / "picomic"

FORBIDDEN = {
    "stream": {
        "link", "sim", "cli", "speech", "outputs", "deploy", "diagnose", "bench", "emulator", "web", "wyoming",
        "stages",
    },
    "bus": {
        "link", "sim", "cli", "stream", "speech", "outputs", "deploy", "diagnose", "bench", "emulator", "web",
        "wyoming", "stages",
    },
    "speech": {"link", "cli", "sim", "emulator", "web", "wyoming", "stages"},
    "outputs": {"link", "cli", "sim", "emulator", "web", "wyoming", "stages"},
    "audio": {"link", "cli", "sim", "stream", "speech", "outputs", "bench", "emulator", "web", "wyoming", "stages"},
    "sim": {"cli", "link", "speech", "outputs", "bench", "web", "wyoming", "stages"},
    "deploy": {"cli", "sim", "speech", "outputs", "bench", "emulator", "wyoming", "stages"},
    "web": {"cli", "link", "sim", "stream", "speech", "deploy", "diagnose", "bench", "emulator", "wyoming", "stages"},
    "wyoming": {"link", "cli", "sim", "emulator", "deploy", "diagnose", "bench", "outputs", "stream", "web", "stages"},
    "stages": {"link", "cli", "sim", "outputs", "deploy", "diagnose", "bench", "emulator", "web", "wyoming"},
}
"""Subpackage → subpackages it must never import."""
MAX_MODULE_LINES = 420
MAX_FUNCTION_LINES = 55


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, name: str, is_pkg: bool) -> Iterator[str]:
    """Every module `name` imports, function-level imports included, TYPE_CHECKING blocks skipped."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, *([base] if base else [])])
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = {t for t in _imports(tree, name, path.name == "__init__.py") if t in mods and t != name}
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _sub(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_pkg_init(module: str) -> bool:
    return _modules()[module].name == "__init__.py"


def test_no_cycle_between_modules() -> None:
    graph = {m: {t for t in ts if not (_is_pkg_init(t) and m.startswith(t + "."))} for m, ts in _graph().items()}
    assert _cycles(graph) == []


def test_no_cycle_between_subpackages() -> None:
    subs: dict[str, set[str]] = {}
    for m, targets in _graph().items():
        if not _sub(m) or m == "picomic":
            continue
        subs.setdefault(_sub(m), set()).update(_sub(t) for t in targets if _sub(t) and _sub(t) != _sub(m))
    assert _cycles(subs) == []


def test_no_forbidden_import() -> None:
    bad = [
        f"{m} imports {t}"
        for m, targets in _graph().items()
        for t in targets
        if _sub(t) in FORBIDDEN.get(_sub(m), set())
    ]
    assert bad == []


def test_only_cli_imports_argparse() -> None:
    users = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if "argparse" in set(_imports(tree, name, path.name == "__init__.py")) and _sub(name) != "cli":
            users.append(name)
    assert users == []


def test_modules_and_functions_stay_small() -> None:
    long_modules = []
    long_functions = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {n} lines")
    assert long_modules == [] and long_functions == []


def test_every_subpackage_has_tests_named_after_it() -> None:
    """A reader finds a subpackage's tests as tests/<suite>/test_<subpackage>_<module>.py (or test_<subpackage>.py);
    cli/, emulator/ and sim/ are tested through their commands and boards in tests/e2e, tests/emulator, tests/hil."""
    tests = {p.stem for p in (PKG.parents[1] / "tests").rglob("test_*.py")}
    subs = {_sub(m) for m in _modules() if m.count(".") >= 2}
    by_suite = {"cli": "e2e", "emulator": "emulated", "sim": "sim", "link": "link", "pipeline": "pipeline"}
    missing = [s for s in sorted(subs) if not any(t.startswith(f"test_{by_suite.get(s, s)}") for t in tests)]
    assert missing == []


def test_the_checks_can_fail() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    tree = ast.parse("import argparse\nif TYPE_CHECKING:\n    import x\ndef f():\n    from picomic.cli import y\n")
    assert set(_imports(tree, "picomic.m", False)) == {"argparse", "picomic.cli", "picomic.cli.y"}
