"""`paperboy ingest` as a user runs it: interrupted runs say what they kept."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson

import paperboy


def _papers(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM papers").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_ctrl_c_says_what_was_kept_and_that_a_rerun_resumes(tmp_path):
    env = {**os.environ, "PAPERBOY_HOME": str(tmp_path), "PAPERBOY_BATCH_SIZE": "10",
           "PYTHONPATH": str(Path(paperboy.__file__).parents[1])}
    child = subprocess.Popen([sys.executable, "-c", "from paperboy.cli import main; main()", "ingest", "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        for i in range(25):  # two batches of 10 commit; 5 records wait for more input
            child.stdin.write(orjson.dumps({"id": f"p{i}", "title": f"Paper number {i}"}) + b"\n")
        child.stdin.flush()
        deadline = time.monotonic() + 60
        while _papers(tmp_path / "paperboy.db") < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    text = err.decode()
    assert child.returncode == 130, text
    assert "interrupted" in text and "kept 2 committed batches (added 20" in text and "again to resume" in text
    assert "Aborted!" not in text
    assert _papers(tmp_path / "paperboy.db") == 20
