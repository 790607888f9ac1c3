"""The code's layering, read from its imports with `ast` (STYLE.md, "Layers: who may import whom").

Every module under accounts/, imagegen/, travelfit/ and lib/ (migrations aside): the import
graph has no cycle; no app (accounts, imagegen, lib) imports the project package travelfit;
lib imports no app; no module imports another module's leading-underscore name. And sizes: no
module over MAX_MODULE_LINES lines of code (models and settings aside), no function over
MAX_FUNCTION_LINES (lines that are neither blank nor only a comment).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "imagegen", "travelfit", "lib")
APPS = ("accounts", "imagegen", "lib")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
SIZE_EXEMPT = ("models.py", "settings.py")


@cache
def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the packages (migrations aside)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name `from <level dots><name> import …` means inside `module`."""
    if not level:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


@cache
def imports() -> dict[str, list[tuple[str, str | None, int]]]:
    """module → [(imported module, imported name or None, line)] for imports of our packages,
    wherever they stand (inside functions too: a deferred import is still a dependency)."""
    known = modules()
    graph = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        found = []
        bound = {}  # local name → our module it stands for (`from . import hf`, `import a.b as c`)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        found.append((alias.name, None, node.lineno))
                        if alias.asname:
                            bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, is_package, node.level, node.module)
                if target.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in known:
                        found.append((submodule, None, node.lineno))
                        bound[alias.asname or alias.name] = submodule
                    else:
                        found.append((target, alias.name, node.lineno))
        # `hf._server_message`: a private name reached through an imported module.
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
            ):
                found.append((bound[node.value.id], node.attr, node.lineno))
        graph[module] = found
    return graph


def _edges() -> dict[str, set[str]]:
    known = modules()
    return {
        module: {target for target, _name, _line in found if target in known and target != module}
        for module, found in imports().items()
    }


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def test_the_import_graph_has_no_cycle():
    cycles = _cycles(_edges())
    assert not cycles, "import cycles:\n" + "\n".join(" ⇄ ".join(c) for c in cycles)


def test_no_app_imports_the_project_package():
    upward = [
        f"{module} imports {target} (line {line})"
        for module, found in imports().items()
        if module.split(".")[0] in APPS
        for target, _name, line in found
        if target.split(".")[0] == "travelfit"
    ]
    assert not upward, "apps importing the project package:\n" + "\n".join(upward)


def test_lib_imports_no_app():
    upward = [
        f"{module} imports {target} (line {line})"
        for module, found in imports().items()
        if module.split(".")[0] == "lib"
        for target, _name, line in found
        if target.split(".")[0] != "lib"
    ]
    assert not upward, "lib importing an app:\n" + "\n".join(upward)


def test_no_module_imports_a_private_name_of_another():
    private = [
        f"{module} imports {target}.{name or ''} (line {line})".rstrip(".")
        for module, found in imports().items()
        for target, name, line in found
        if target != module
        and (
            (name is not None and name.startswith("_") and not name.startswith("__"))
            or any(part.startswith("_") and not part.startswith("__") for part in target.split("."))
        )
    ]
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def _code_lines(lines: list[str]) -> int:
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_no_module_is_too_long():
    long = []
    for module, path in modules().items():
        if path.name in SIZE_EXEMPT:
            continue
        count = _code_lines(path.read_text().splitlines())
        if count > MAX_MODULE_LINES:
            long.append(f"{module}: {count} lines of code")
    assert not long, f"modules over {MAX_MODULE_LINES} lines of code:\n" + "\n".join(long)


def test_no_function_is_too_long():
    long = []
    for module, path in modules().items():
        source = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(source))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                count = _code_lines(source[node.lineno - 1 : node.end_lineno])
                if count > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name} (line {node.lineno}): {count} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines of code:\n" + "\n".join(long)
