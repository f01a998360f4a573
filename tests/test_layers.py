"""The house's layering, read from the source with ast (every import, also inside functions, and
module names hidden in strings for importlib): no cycle between the package's rooms, and no
stage imports the CLI, the task layer or report/."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import microseg

ROOT = Path(microseg.__file__).parent
CLI = {"cli", "commands", "__main__"}
TOP = CLI | {"tasks", "report"}
HIDDEN = re.compile(r"^(microseg(?:\.\w+)+)(?::\w+)?$")   # "microseg.x.y" or "microseg.x.y:attr"


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["microseg", *parts])] = path
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = HIDDEN.match(node.value)
            if m:
                found.add(m.group(1))
    return {name for name in found if name in known and name != module}


def _room_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for module, path in mods.items():
        for target in _imports(module, path, set(mods)):
            a, b = _room(module), _room(target)
            if a == b or "__init__" in (a, b):
                continue
            graph.setdefault(a, set()).add(b)
            why.setdefault((a, b), f"{module} -> {target}")
    return graph, why


def test_no_stage_imports_the_cli_the_tasks_or_report():
    _, why = _room_graph()
    bad = [w for (a, b), w in why.items() if a not in TOP and (b in TOP)]
    bad += [w for (a, b), w in why.items() if a == "report" and b in CLI | {"tasks"}]
    assert not bad, bad


def test_no_cycle_between_rooms():
    graph, why = _room_graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(room: str) -> list[str] | None:
        state[room] = 1
        path.append(room)
        for nxt in sorted(graph.get(room, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[room] = 2
        path.pop()
        return None

    for room in sorted(graph):
        if room not in state and (cycle := visit(room)):
            raise AssertionError("cycle: " + " -> ".join(cycle) + "; first edge: " + why[(cycle[0], cycle[1])])


def test_the_checker_sees_hidden_and_function_level_imports(tmp_path):
    source = ("def f():\n    from microseg.tasks import grains\n"
              "import importlib\nMOD = importlib.import_module('microseg.report.figures')\n")
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = _imports("microseg.grains.probe", path, {"microseg.tasks", "microseg.report.figures"})
    assert found == {"microseg.tasks", "microseg.report.figures"}
