"""Subprocess helpers shared by the robustness and server-backend tests."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import PROJECT_ROOT, SEED

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from synth import generate  # noqa: E402


def kill_ingest_while_embedding(tmp_path: Path, env: dict, extra_args: list[str] | None = None,
                                n_docs: int = 30, wait_seconds: float = 180) -> None:
    """Start ``budget-qa ingest`` of ``n_docs`` synthetic disclosures (long enough to be caught while
    it writes its new generation) with ``env`` and ``extra_args`` (e.g. ``--index DIR``), wait until
    it reports 向量化 (embedding, i.e. writing the new generation), then SIGKILL it.

    Uses a cold embedding cache (``tmp_path/cold-data``) so the ingest is still running when killed.
    Raises AssertionError unless the process died of the SIGKILL.
    """
    folder = tmp_path / "many"
    assert len(generate(SEED, folder, n_docs)) == n_docs
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ingest", str(folder), *(extra_args or [])],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**env, "BUDGET_QA_DATA": str(tmp_path / "cold-data")})
    deadline = time.time() + wait_seconds
    for line in proc.stdout:
        if "向量化" in line or time.time() > deadline:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"ingest ended with {proc.returncode} before it was killed"
