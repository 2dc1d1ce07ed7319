"""Packaging: properties found installed and editable, no ray at import, no import loop, registry lookups."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from recbole.model.sequential_recommender import GRU4Rec
from recbole.model.sequential_recommender import SASRec as RecBoleSASRec

from recbole_bsarec.config import PROPERTIES
from recbole_bsarec.errors import ConfigError
from recbole_bsarec.model import BSARec
from recbole_bsarec.registry import get_model

ROOT = Path(__file__).resolve().parents[1]


def test_properties_are_found():
    assert (PROPERTIES / "overall.yaml").is_file() and (PROPERTIES / "model" / "BSARec.yaml").is_file()


def test_wheel_carries_the_properties(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("recbole_bsarec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"recbole_bsarec/properties/{p.relative_to(ROOT / 'properties')}" for p in (ROOT / "properties").rglob("*.yaml")
    }
    assert expected and expected <= names


def test_nothing_imports_ray_unless_a_search_runs():
    code = "import sys, recbole_bsarec.cli, recbole_bsarec.pipeline; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def import_statements(tree, lazy):
    """The import statements that run when the module is imported; with ``lazy``, those in its functions too."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif lazy or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo.extend(ast.iter_child_nodes(node))


def imported(node, module, modules):
    """The package's modules an import statement in ``module`` runs: the ones it names and, from outside a
    package, that package's ``__init__`` on the way."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level == 0 and node.module:
        names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    else:
        names = []
    prefixes = {".".join(name.split(".")[:end]) for name in names for end in range(1, name.count(".") + 2)}
    return {name for name in prefixes if name in modules and not f"{module}.".startswith(f"{name}.")}


def import_graph():
    """Each module of the package -> the modules of the package that importing it runs. The CLI's imports inside
    functions count too: they are the commands it runs, lazy only to keep Ray out of a training run."""
    modules = {}
    for path in (ROOT / "recbole_bsarec").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = import_statements(tree, lazy=module == "recbole_bsarec.cli")
        graph[module] = set().union(*(imported(node, module, modules) for node in nodes))
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as the list of its modules, the first one again at the end; None if it has none."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        cycle = next(filter(None, map(visit, sorted(graph[module]))), None)
        path.pop()
        done.add(module)
        return cycle

    return next(filter(None, map(visit, sorted(graph))), None)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_one_that_imports_it_back():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_commands_import_no_plotting():
    code = "import sys, recbole_bsarec.cli, recbole_bsarec.compare.command; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_registry_finds_ours_and_recboles():
    assert get_model("BSARec") is BSARec
    assert get_model("GRU4Rec") is GRU4Rec  # RecBole's, where this package has none of that name
    assert issubclass(get_model("SASRec"), RecBoleSASRec)  # RecBole's, with loss_type BCE added
    with pytest.raises(ConfigError, match="unknown model"):
        get_model("NoSuchModel")


def test_recbole_models_do_not_leave_anomaly_detection_on():
    code = (
        "import sys, torch, recbole_bsarec.pipeline\n"
        "from recbole_bsarec.registry import get_model\n"
        "get_model('SASRec'); get_model('GRU4Rec')\n"
        "sys.exit(torch.is_anomaly_enabled())"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
