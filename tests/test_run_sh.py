"""run.sh's install steps, with a stand-in ``.venv`` whose python, pip and budget-qa record how
they are called: the chat installs without the test extras, ``./run.sh test`` adds only them, each
step has its stamp, pip's output is shortened to progress lines with the seconds elapsed."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT

PIP = """#!/bin/bash
echo "pip $*" >> "$CALLS"
echo "Looking in links: /opt/wheels"
echo "Processing /opt/pypi/files/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
echo "Collecting gradio<7,>=6 (from budget-qa==0.1.0)"
echo "  Downloading gradio-6.31.0-py3-none-any.whl (50.1 MB)"
echo "Requirement already satisfied: filelock in ./.venv/lib/python3.11/site-packages"
echo "WARNING: Location 'file:///opt/pypi-more/simple/gradio/' is ignored: it is neither a file nor a directory."
echo "Installing collected packages: gradio, torch"
echo "Successfully installed gradio-6.31.0 torch-2.13.0"
"""
PYTHON = """#!/bin/bash
[ "$1" = "-c" ] && exit 0
echo "python $*" >> "$CALLS"
"""
BUDGET_QA = """#!/bin/bash
echo "budget-qa $*" >> "$CALLS"
"""


@pytest.fixture
def project(tmp_path):
    """A copy of run.sh and pyproject.toml with the stand-in .venv; returns (folder, run, calls)."""
    folder = tmp_path / "project"
    (folder / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "run.sh", folder)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", folder)
    for name, text in (("pip", PIP), ("python", PYTHON), ("budget-qa", BUDGET_QA)):
        exe = folder / ".venv" / "bin" / name
        exe.write_text(text)
        exe.chmod(0o755)
    calls = tmp_path / "calls.log"

    def run(*args: str) -> tuple[list[str], list[str]]:
        """Run run.sh ARGS; returns (the calls it made, its stderr lines with the seconds as 0)."""
        calls.write_text("")
        done = subprocess.run(["bash", str(folder / "run.sh"), *args], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "CALLS": str(calls), "HOME": str(tmp_path)},
                              timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        err = [re.sub(r"\[ *\d+ s\]", "[0 s]", re.sub(r" in \d+ s$", " in 0 s", line))
               for line in done.stderr.splitlines()]
        return calls.read_text().splitlines(), err

    return folder, run


def _stamps(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / ".venv").glob(".installed-*"))


def test_the_chat_installs_without_test_extras_and_each_step_once(project):
    folder, run = project
    sha = hashlib.sha1((folder / "pyproject.toml").read_bytes()).hexdigest()
    (folder / ".venv" / f".installed-{sha}").touch()  # a stamp of the run.sh that always installed '.[test]'

    made, err = run("--port", "7861")
    assert made == ["pip install --progress-bar off torch==2.13.0",
                    "pip install --progress-bar off -e .",
                    "budget-qa serve --port 7861"]
    progress = ["run.sh: [0 s] Processing torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                "run.sh: [0 s] Collecting gradio<7,>=6 (from budget-qa==0.1.0)",
                "run.sh: [0 s] installing 2 packages (one line when done)",
                "run.sh: [0 s] installed 2 packages"]
    assert err == ["run.sh: installing what the chat needs into .venv, step 1 of 2: torch==2.13.0 (CPU build)",
                   *progress,
                   "run.sh: installing what the chat needs into .venv, step 2 of 2: budget-qa (pip install -e .)",
                   *progress,
                   "run.sh: installed what the chat needs in 0 s"]
    assert _stamps(folder) == [f".installed-app-{sha}"]

    assert run("ask", "三公经费是多少") == (["budget-qa ask 三公经费是多少"], [])  # installed: no pip


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists() or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                    reason="run.sh test would install Chromium or PostgreSQL first")
def test_run_sh_test_adds_only_the_test_extras(project):
    folder, run = project
    sha = hashlib.sha1((folder / "pyproject.toml").read_bytes()).hexdigest()
    run("--help")
    made, err = run("test", "-k", "retrieval")
    assert made == ["pip install --progress-bar off -e .[test]", "python -m pytest -q -k retrieval"]
    assert err[-1] == "run.sh: installed the test extras in 0 s"
    assert _stamps(folder) == [f".installed-app-{sha}", f".installed-test-{sha}"]
    assert run("test")[0] == ["python -m pytest -q"]
    assert run("--help")[0] == ["budget-qa serve --help"]

    # editing pyproject.toml installs again
    with open(folder / "pyproject.toml", "a") as f:
        f.write("\n# edited\n")
    assert run("--help")[0] == ["pip install --progress-bar off torch==2.13.0",
                                "pip install --progress-bar off -e .", "budget-qa serve --help"]
