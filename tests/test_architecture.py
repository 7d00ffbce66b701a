"""The folder tree keeps its import rules, its size limits and its one import package."""

from __future__ import annotations

import ast
import itertools
import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest

from smartstore.launcher.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
COMPONENTS = ("gateway", "edge", "devices", "models", "dashboard")
MAX_MODULE_LINES = 400
MAX_GATEWAY_TOP_MODULES = 12

CONTRACTS: dict[str, dict[str, Any]] = {
    contract["id"]: contract
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}


def python_files(*folders: Path) -> Iterator[Path]:
    """Every .py file under the folders, following the component links (Path.rglob would not)."""
    for folder in folders:
        for directory, subdirectories, files in os.walk(folder, followlinks=True):
            subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
            yield from (Path(directory, name) for name in files if name.endswith(".py"))


def run_lint_imports(tree: Path) -> tuple[int, dict[str, str]]:
    """lint-imports on the tree with the config in it: exit status, and by contract id its report
    (the chains that break it) or "" when it is kept."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "1000"},  # no wrapped chains
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    kept = {key for key, contract in CONTRACTS.items() if f"{contract['name']} KEPT" in output}
    broken = {key for key, contract in CONTRACTS.items() if f"{contract['name']} BROKEN" in output}
    assert kept | broken == CONTRACTS.keys(), output
    # After the summary, each broken contract's name is a heading over its chains.
    details = output.partition("Broken contracts")[2]
    headings = sorted((details.index(f"\n{CONTRACTS[key]['name']}\n"), key) for key in broken)
    reports = dict.fromkeys(kept, "")
    for (start, key), (end, _) in itertools.pairwise([*headings, (len(details), "")]):
        reports[key] = details[start:end]
    return result.returncode, reports


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """smartstore/ with the components copied in place of their links, and the import-linter config."""
    shutil.copytree(
        ROOT / "smartstore",
        tmp_path / "smartstore",
        symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__", "*.onnx"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_untouched_tree_keeps_every_contract(source_copy: Path) -> None:
    status, reports = run_lint_imports(source_copy)
    assert {key: report for key, report in reports.items() if report} == {}
    assert status == 0


# (module file inside smartstore/, the line added at its end, the contract that must report it)
WRONG_IMPORTS = [
    ("edge/rfid/inventory.py", "import smartstore.gateway.db.models", "components-independent"),
    ("edge/vision/slots.py", "import smartstore.gateway.db.models", "pure-cores"),
    ("gateway/restock/domain.py", "import sqlalchemy", "pure-cores"),
    ("edge/rfid/zones.py", "import smartstore.edge.config", "pure-cores"),
    ("kernel/storeconfig.py", "import smartstore.launcher.children", "kernel-imports-no-component"),
    ("kernel/contract/gtin.py", "import smartstore.edge.rfid.epc", "kernel-imports-no-component"),
    ("devices/sim/world.py", "import smartstore.launcher.children", "components-do-not-import-launcher"),
    ("launcher/store_cli.py", "import smartstore.gateway.db.engine", "launcher-imports-only-commands"),
    ("gateway/monitoring/alerts.py", "import smartstore.gateway.api.app", "gateway-layers"),
    ("gateway/db/util.py", "import smartstore.gateway.inventory.store", "gateway-layers"),
    ("gateway/restock/store.py", "import smartstore.gateway.runtime", "gateway-layers"),
    ("edge/agent.py", "import gateway.db.models", "no-bare-component-names"),
    ("kernel/mqtt.py", "from models import cli", "no-bare-component-names"),
]


@pytest.mark.parametrize(
    ("module", "line", "contract"), WRONG_IMPORTS, ids=[f"{m}: {i}" for m, i, _ in WRONG_IMPORTS]
)
def test_a_wrong_import_breaks_its_contract(source_copy: Path, module: str, line: str, contract: str) -> None:
    path = source_copy / "smartstore" / module
    source = path.read_text()
    path.write_text(f"{source}\n{line}  # deliberately wrong\n")
    wrong_line = len(source.splitlines()) + 2
    importer = "smartstore." + module.removesuffix(".py").replace("/", ".")
    status, reports = run_lint_imports(source_copy)
    assert status != 0
    # The report names this very import (importer and line), not some other one that was already wrong.
    assert any(
        report_line.lstrip("- ").startswith(f"{importer} -> ") and f"l.{wrong_line}" in report_line
        for report_line in reports[contract].splitlines()
    ), reports[contract]


def test_the_launcher_runs_only_command_modules() -> None:
    """launcher.cli imports its commands by name, which lint-imports cannot see: check that table here."""
    allowed = {
        rule.split(" -> ")[1] for rule in CONTRACTS["launcher-imports-only-commands"]["ignore_imports"]
    }
    outside = {module for module, _ in COMMANDS.values() if not module.startswith("smartstore.launcher.")}
    assert outside <= allowed


# Imports a module list in an interpreter where the I/O libraries cannot be found; proves it can't first.
BLOCKED_IMPORTS_SCRIPT = """
import importlib, importlib.abc, sys

blocked = set(sys.argv[1].split(","))

class BlockIoLibraries(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"{name} is blocked in a pure core")
        return None

sys.meta_path.insert(0, BlockIoLibraries())
try:
    import cv2
except ImportError:
    pass
else:
    sys.exit("the blocker let cv2 through")
for module in sys.argv[2:]:
    importlib.import_module(module)
"""


def test_pure_cores_import_without_any_io_library() -> None:
    contract = CONTRACTS["pure-cores"]
    graph = grimp.build_graph("smartstore", cache_dir=None)
    modules = sorted(
        {m for core in contract["source_modules"] for m in {core, *graph.find_descendants(core)}}
    )
    blocked = ",".join(m for m in contract["forbidden_modules"] if not m.startswith("smartstore."))
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORTS_SCRIPT, blocked, *modules],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_wheel_is_one_import_package_with_its_data(tmp_path: Path) -> None:
    source = tmp_path / "source"
    # Build from a copy (links kept as links) so the build leaves nothing in the working tree.
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests"
        ),
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet"]
    subprocess.run(
        [*pip_wheel, "--wheel-dir", "wheels", "./source"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel_path,) = (tmp_path / "wheels").glob("smartstore-*.whl")
    with zipfile.ZipFile(wheel_path) as wheel:
        entries = {info.filename: info for info in wheel.infolist()}
        (top_level_txt,) = [name for name in entries if name.endswith(".dist-info/top_level.txt")]
        assert wheel.read(top_level_txt).decode().split() == ["smartstore"]
    assert {name.split("/")[0] for name in entries if ".dist-info/" not in name} == {"smartstore"}

    links = [name for name, info in entries.items() if stat.S_ISLNK(info.external_attr >> 16)]
    assert not links
    shipped_data = [
        "smartstore/models/shelf-detector.onnx",
        "smartstore/dashboard/static/index.html",
        "smartstore/dashboard/static/kiosk/index.html",
        "smartstore/dashboard/static/vendor/uPlot.iife.min.js",
        "smartstore/kernel/data/example-store.yaml",
    ]
    for name in shipped_data:
        assert entries[name].file_size == (ROOT / name).stat().st_size, name
    tree_modules = {path.relative_to(ROOT).as_posix() for path in python_files(ROOT / "smartstore")}
    assert {f"smartstore/{component}/cli.py" for component in ("gateway", "edge", "models")} <= tree_modules
    assert {name for name in entries if name.endswith(".py")} == tree_modules


def test_the_gateway_keeps_few_modules_at_its_top() -> None:
    top_modules = [path.name for path in (ROOT / "gateway").glob("*.py") if path.name != "__init__.py"]
    assert len(top_modules) <= MAX_GATEWAY_TOP_MODULES, sorted(top_modules)


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {}
    for path in python_files(ROOT / "smartstore", ROOT / "bench"):
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            too_long[path.relative_to(ROOT).as_posix()] = lines
    assert not too_long


def test_no_import_cycle() -> None:
    """A cycle is an import a -> b where b reaches a again; imports only for type checking don't count."""
    graph = grimp.build_graph("smartstore", cache_dir=None, exclude_type_checking_imports=True)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles


def test_tests_and_benches_use_no_bare_component_name() -> None:
    """The lint covers smartstore/; the code around it must not bring `import gateway` back either."""
    bare = []
    for path in python_files(ROOT / "tests", ROOT / "bench"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            bare += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in COMPONENTS]
    assert not bare
