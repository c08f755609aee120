"""The layer contracts hold, and the tool that checks them really would catch a breach.

Why: the CLI, the console and the Airflow operator are thin faces over one headless engine. If a
core module imported Textual (or the CLI), a cron job would drag the console in, and the layers
would blur one convenient import at a time. import-linter checks the contracts written in
``pyproject.toml``; these tests run it, prove it fails on a planted breach, and make sure every
module of the package is placed on one side of the line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# The faces (and the harness) sit above the core; everything else in the package is core.
FACES = {"dbconsole.cli", "dbconsole.cli_parser", "dbconsole.cli_history", "dbconsole.cli_targets", "dbconsole.tui",
         "dbconsole.demo", "dbconsole.progress", "dbconsole.sandbox",
         "dbconsole.airflow", "dbconsole.__main__"}


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_layer_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_textual_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "dbconsole", tmp_path / "dbconsole", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    catalog = tmp_path / "dbconsole" / "catalog.py"
    catalog.write_text(catalog.read_text() + "\nimport textual  # planted breach\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "dbconsole.catalog -> textual" in result.stdout


def test_a_tunnel_module_importing_connect_breaks_the_contract(tmp_path: Path) -> None:
    """The connect <-> tunnel import cycle (login_name, TunnelPool) stays gone."""
    shutil.copytree(ROOT / "dbconsole", tmp_path / "dbconsole", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    pool = tmp_path / "dbconsole" / "tunnel" / "pool.py"
    pool.write_text(pool.read_text() + "\nfrom dbconsole.connect import connect  # planted cycle\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "dbconsole.tunnel.pool -> dbconsole.connect" in result.stdout


@pytest.mark.parametrize(("module", "planted", "breach"), [
    ("sync/engine.py", "import dbconsole.airflow", "dbconsole.sync.engine -> dbconsole.airflow"),
    ("airflow/graph.py", "from dbconsole.sync import state", "dbconsole.airflow.graph -> dbconsole.sync.state"),
    ("airflow/operator.py", "import dbconsole.progress", "dbconsole.airflow.operator -> dbconsole.progress"),
])
def test_the_airflow_face_stays_a_face(tmp_path: Path, module: str, planted: str, breach: str) -> None:
    """The core never imports dbconsole.airflow; it drives the engine only by its public entry points."""
    shutil.copytree(ROOT / "dbconsole", tmp_path / "dbconsole", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "dbconsole" / module
    path.write_text(path.read_text() + f"\n{planted}  # planted breach\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and breach in result.stdout


def test_every_module_is_either_core_or_a_face() -> None:
    core = set(_contracts()["core-headless"]["source_modules"])
    package = ROOT / "dbconsole"
    modules = {f"dbconsole.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"dbconsole.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    unplaced = sorted(modules - core - FACES)
    assert not unplaced, f"add these to a contract in pyproject.toml (core) or to FACES here: {unplaced}"
    assert not core & FACES
