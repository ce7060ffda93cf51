"""``manage.py evaluate_recommendations`` run small: it reports the recommender beating the
popularity baseline, the same figures on every run, and the job's time and memory at scale. A
child process, as ``make bench`` runs it: the command points Django at a scratch database of its
own, which a test's open transaction would not allow."""

import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SMALL_SCALE = ["--scale-members", "1000", "--scale-products", "50", "--redemptions", "10000",
               "--orders", "1000"]


def evaluate(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "evaluate_recommendations", "--members", "300", *arguments],
        cwd=ROOT, env={**os.environ, "DEBUG": "1"}, capture_output=True, text=True, timeout=600)


def rates(output: str) -> dict[str, tuple[float, str]]:
    return {name: (float(rate), coverage) for name, rate, coverage in
            re.findall(r"^\s+(recommender|popularity)\s+([0-9.]+)\s+([0-9.]+%)$", output, re.M)}


def test_the_recommender_beats_the_baseline_the_same_way_every_run_and_scales():
    first = evaluate(*SMALL_SCALE)
    assert first.returncode == 0, first.stderr
    found = rates(first.stdout)
    assert found["recommender"][0] > found["popularity"][0] > 0
    assert "recommender vs popularity" in first.stdout and "MISSED" not in first.stdout
    assert re.search(r"1,000 members x 50 products x 10,000 redemptions .*: [0-9.]+ s", first.stdout)
    assert "PostgreSQL temp files" in first.stdout
    again = evaluate("--skip-scale")
    assert again.returncode == 0, again.stderr
    assert rates(again.stdout) == found
    assert "at scale" not in again.stdout
