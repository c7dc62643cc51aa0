"""The codebase keeps the shape it was given: no import cycles, no imports hidden in functions to
dodge one, and no module of the apps past about 500 lines (split it by subject instead)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "accounts",
    "common",
    "config",
    "dispatch",
    "publicity",
    "realtime",
    "records",
    "requests_app",
    "volunteers",
)
# About 500 lines: a module past this is several subjects (STYLE.md: "a room for every rule").
MAX_LINES = 550


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return {name for name in names if name in known and name != module}


def is_allowed_inside(parents: list[ast.AST]) -> bool:
    """Imports under `if TYPE_CHECKING:` and in an AppConfig's ready() are Django's and typing's own idioms."""
    for parent in parents:
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        if isinstance(parent, ast.FunctionDef) and parent.name == "ready":
            return True
    return False


def graph() -> tuple[dict[str, set[str]], list[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    hidden = []
    for name, path in known.items():
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, parents: list[ast.AST], name: str = name, path: Path = path) -> None:
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = imported(node, name, path.name == "__init__.py", known)
                edges[name] |= targets
                in_function = any(isinstance(p, ast.FunctionDef | ast.AsyncFunctionDef) for p in parents)
                if targets and in_function and not is_allowed_inside(parents):
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {', '.join(sorted(targets))}")
            for child in ast.iter_child_nodes(node):
                visit(child, [*parents, node] if not isinstance(node, ast.Module) else parents)

        visit(tree, [])
    return edges, hidden


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            connect(v)
    return found


def test_there_is_no_import_cycle_among_the_projects_modules():
    edges, _hidden = graph()

    assert cycles(edges) == []


def test_no_module_imports_another_of_the_project_inside_a_function():
    _edges, hidden = graph()

    assert hidden == []


def test_the_guard_would_see_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_the_apps_is_past_about_500_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in modules().values() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }

    assert long == {}
