"""Coverage-guided fuzzing in the suite (issue 17): the three libFuzzer harnesses of FuzzTesting/ (clients'
requests, Redis' replies, policy files) built with address sanitizer and run for 60 s each, side by side, from the
seed corpus; any crash fails the test (its input is in the run's folder). The long runs are bench/fuzz.py's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def test_sixty_seconds_of_each_harness_find_no_crash(tmp_path):
    probe = subprocess.run(["swift", "build", "--help"], capture_output=True, text=True)
    if "--sanitize" not in probe.stdout:
        pytest.skip("this toolchain's swift build has no --sanitize (no libFuzzer)")
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "fuzz.py"), "--seconds", "60", "--jobs", "3",
                           "--folder", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("Fuzz")]
    assert len(rows) == 3 and all(line.endswith("0 crashes") for line in rows), done.stdout
    for line in rows:
        executions, coverage = int(line.split()[1].replace(",", "")), int(line.split()[4].replace(",", ""))
        assert executions > 1000 and coverage > 100, line  # it ran, and reached past the first branches
