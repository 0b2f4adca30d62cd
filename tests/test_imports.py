"""Who may import whom: the README's "Layout" table, checked on the source.

Every `.py` file of the repository is parsed (never imported: a module that must not be
loaded is not loaded here either) and each `import`/`from … import` statement, at the top
of a module or inside a function alike, is an edge from that module to the repository
module it names (`from records import queries` names `records` and `records.queries`).
The rules:

- each part imports only the parts the table allows it (`ALLOWED` below, its copy);
- `domain/` imports the standard library only; `workflows/` and `domain/` never import the
  records, the API, mail, activities, SQLModel or SQLAlchemy (workflow code does no I/O);
- `api/` never imports the worker, workflows or activities: it talks to Temporal through
  `temporal_client` and to mail through `api/mail_service.py` only;
- nothing imports `api/` but `cli.py`, `stack/`, `bench/` and `tests/`;
- no import cycle among the repository's modules.

One test checks the consequence at run time: importing the app loads no worker code.

To see the graph yourself: `python tests/test_imports.py` prints every edge.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = frozenset({".venv", ".git", ".data", "node_modules", "build", "dist"})

# The README's "Layout" table: the repository parts each part may import (itself aside).
# Parts not listed (cli, stack, bench, tests) may import everything.
ALLOWED = {
    "domain": set(),
    "workflows": {"domain"},
    "records": {"domain", "config"},
    "config": {"domain", "records"},
    "notifications": {"domain", "records", "config"},
    "activities": {"domain", "records", "notifications"},
    "temporal_client": {"config"},
    "api": {"domain", "records", "config", "temporal_client", "notifications"},
    "simulation": {"domain", "records"},
    "worker": {
        "domain",
        "records",
        "config",
        "notifications",
        "activities",
        "workflows",
        "temporal_client",
    },
}
# Packages (first name) a module of the given part may not import.
FORBIDDEN = {
    "domain": {"records", "api", "notifications", "activities", "sqlmodel", "sqlalchemy"},
    "workflows": {"records", "api", "notifications", "activities", "sqlmodel", "sqlalchemy"},
    "api": {"worker", "workflows", "activities"},
}
# The only parts that may import `api`, besides `api` itself.
API_IMPORTERS = frozenset({"api", "cli", "stack", "bench", "tests"})
# The only module of `api` that may import `notifications`.
API_MAIL_SERVICE = "api.mail_service"

Graph = Mapping[str, Mapping[str, int]]  # module -> imported repo module -> line


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the repository."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every absolute dotted name the module imports (candidate modules), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            if node.module == "__future__":
                continue
            yield prefix, node.lineno
            for alias in node.names:
                yield f"{prefix}.{alias.name}", node.lineno  # `from pkg import submodule`


def external_imports(module: str, path: Path) -> set[str]:
    """First names of everything a module imports (stdlib, third-party and repository)."""
    return {name.partition(".")[0] for name, _ in imported_names(module, path) if name}


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    files = module_files(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(module, path):
            target = name if name in files else None
            if target and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The import cycles, one per strongly connected component (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def part(module: str) -> str:
    return module.partition(".")[0]


def violations(graph: Graph, files: Mapping[str, Path]) -> list[str]:
    """Every import the layout forbids, as `module:line imports target`."""
    found: list[str] = []
    for module, edges in sorted(graph.items()):
        here = part(module)
        externals = external_imports(module, files[module])
        for name in sorted(FORBIDDEN.get(here, set()) & externals):
            found.append(f"{module} imports {name} (forbidden in {here}/)")
        if here == "domain":
            for name in sorted(externals - set(sys.stdlib_module_names) - {"domain"}):
                found.append(f"{module} imports {name} (domain/ is stdlib only)")
        for target, line in sorted(edges.items()):
            there = part(target)
            if here in ALLOWED and there != here and there not in ALLOWED[here]:
                found.append(f"{module}:{line} imports {target} (not in the layout table)")
            if there == "api" and here not in API_IMPORTERS:
                found.append(f"{module}:{line} imports {target} (only cli, stack, bench, tests)")
            if here == "api" and there == "notifications" and module != API_MAIL_SERVICE:
                found.append(f"{module}:{line} imports {target} (only {API_MAIL_SERVICE})")
    return found


def test_the_graph_sees_the_repository() -> None:
    graph = import_graph()
    assert {"domain.serials", "api.app", "worker", "temporal_client"} <= graph.keys()
    assert "temporal_client" in graph["api.app"] and "temporal_client" in graph["worker"]
    assert "api.errors" in graph["api.auth"]  # a repository edge is seen


def test_layout_rules_hold() -> None:
    assert violations(import_graph(), module_files()) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_api_process_loads_no_worker_code() -> None:
    """What the rules mean at run time: the app's modules pull in no workflow, activity or
    SMTP client (checked in a fresh interpreter; this process may have loaded them)."""
    probe = (
        "import sys, api.app; print(sorted({m.partition('.')[0] for m in sys.modules} & "
        "{'worker', 'workflows', 'activities', 'aiosmtplib', 'aiosmtpd'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_checks_catch_a_violation(tmp_path: Path) -> None:
    """The same checks on a small tree that breaks each rule once."""
    sources = {
        "domain/__init__.py": "",
        "domain/rules.py": "import pydantic\nfrom records import models\n",
        "workflows/__init__.py": "",
        "workflows/flow.py": "def f():\n    import sqlalchemy\n",
        "records/__init__.py": "",
        "records/models.py": "from api import app\n",
        "api/__init__.py": "",
        "api/app.py": "from . import pages\n",
        "api/pages.py": "def f():\n    from worker import connect\n    from notifications import x\n",
        "notifications/__init__.py": "",
        "notifications/x.py": "",
        "worker.py": "import api.app\n",
        "cli.py": "from api.app import create\n",
    }
    for name, text in sources.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path)
    files = module_files(tmp_path)
    assert graph["api.app"] == {"api": 1, "api.pages": 1}  # relative import resolved
    assert graph["api.pages"] == {"worker": 2, "notifications": 3, "notifications.x": 3}
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert cycles(graph) == [["api.app", "api.pages", "worker"]]
    assert violations(graph, files) == [
        "api.pages imports worker (forbidden in api/)",
        "api.pages:3 imports notifications (only api.mail_service)",
        "api.pages:3 imports notifications.x (only api.mail_service)",
        "api.pages:2 imports worker (not in the layout table)",
        "domain.rules imports records (forbidden in domain/)",
        "domain.rules imports pydantic (domain/ is stdlib only)",
        "domain.rules imports records (domain/ is stdlib only)",
        "domain.rules:2 imports records (not in the layout table)",
        "domain.rules:2 imports records.models (not in the layout table)",
        "records.models:1 imports api (not in the layout table)",
        "records.models:1 imports api (only cli, stack, bench, tests)",
        "records.models:1 imports api.app (not in the layout table)",
        "records.models:1 imports api.app (only cli, stack, bench, tests)",
        "worker:1 imports api.app (not in the layout table)",
        "worker:1 imports api.app (only cli, stack, bench, tests)",
        "workflows.flow imports sqlalchemy (forbidden in workflows/)",
    ]


if __name__ == "__main__":
    for source, targets in sorted(import_graph().items()):
        for target, line in sorted(targets.items()):
            print(f"{source}:{line} -> {target}")
