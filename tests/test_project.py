"""The project as a new user meets it: set-up files agree, notebooks are clean, the layout is what the README says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [p for p in pip if not p.startswith("-e")]
    assert sorted(listed) == sorted(wanted), "environment.yml's pip list must equal pyproject's dependencies + dev"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]
    assert "-e ." in pip


def test_the_lock_pins_every_requirement_within_its_range() -> None:
    """requirements.lock (``make lock``) pins, for this Python, a version of every dependency in pyproject.toml's
    ranges, with hashes: ``make setup`` installs exactly what was tested."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.version import Version

    pinned: dict[str, Version] = {}
    lock = (ROOT / "requirements.lock").read_text()
    for line in lock.splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^ ;\\]+)\s*(?:;\s*(.*?))?\s*\\?$", line)
        if m and (m.group(3) is None or Marker(m.group(3)).evaluate()):
            pinned[_name(m.group(1))] = Version(m.group(2))
    assert "--hash=sha256:" in lock
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(text)
        name = _name(req.name)
        assert name in pinned, f"requirements.lock has no pin for {name}: run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{name} {pinned[name]} is outside {req.specifier}"
        )


def test_notebooks_are_committed_without_outputs_and_keep_parameters() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), f"{path.name} has outputs"
    qbr = json.loads((ROOT / "notebooks" / "qbr.ipynb").read_text())
    code = [c for c in qbr["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])


def test_papermill_documents_every_parameter() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(ROOT / "notebooks" / "qbr.ipynb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("account_id: str", "quarter: str", "workspace: str"):
        assert name in out
    assert "2026Q3" in out and "Unable to parse" not in out


def test_readme_starts_with_the_two_commands_and_lists_real_folders() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[:1500]
    assert "make demo" in head and "make test" in head
    for folder in ("notebooks/", "kam_helpers/", "data/", "reports/", "tests/", "benchmarks/"):
        assert folder in readme
        assert (ROOT / folder).is_dir(), folder
    for path in re.findall(r"\]\(([^)#:]+\.(?:png|md))\)", readme):
        assert (ROOT / path).exists(), f"README links to missing {path}"


def test_make_targets_are_documented_and_ci_runs_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "test-fast", "lint", "docs", "lock", "bench", "setup", "help"):
        assert re.search(rf"^{target}:.*## ", makefile, re.M), f"make {target} lacks a ## description"
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_machine_paths_in_the_project() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for rel in tracked:
        path = ROOT / rel
        if path.suffix in {".py", ".ipynb", ".md", ".yml", ".toml", ".j2", ".json"} or path.name in {"Makefile", "run"}:
            text = path.read_text(errors="ignore")
            for machine_path in ("/" + "work/", "/" + "root/", "/" + "tmp/"):
                assert machine_path not in text, f"{rel} names a path of this machine ({machine_path})"


def _import_cycles_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cycle_check_finds_cycles() -> None:
    cycles = _import_cycles_tool().cycles
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": {"c"}, "c": {"b"}}) == [["a"], ["b", "c"]]


def test_no_import_cycle_between_kam_helpers_modules_and_make_lint_checks_it() -> None:
    tool = _import_cycles_tool()
    assert tool.cycles(tool.import_graph()) == []
    lint = re.search(r"^lint:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.M | re.S)
    assert lint and "tools/import_cycles.py" in lint.group(0) and "lint-imports" in lint.group(0)


def test_the_package_top_level_shows_its_layers() -> None:
    """kam_helpers/ holds its layers as sub-packages, the command line and its data folders: no loose module."""
    top = ROOT / "kam_helpers"
    loose = sorted(p.name for p in top.glob("*.py") if p.name not in {"__init__.py", "cli.py"})
    assert loose == []
    layers = {"core", "data", "metrics", "analyses", "qbr", "exports", "apps", "batch", "devtools"}
    assert layers <= {p.name for p in top.iterdir() if (p / "__init__.py").is_file()}
