"""onnxruntime must be loaded before usearch (the other order segfaults): one module owns the order."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "src" / "paperboy" / "index" / "ann.py"
IMPORTS_USEARCH = re.compile(r"^\s*(import usearch|from usearch[ .])", re.MULTILINE)


def test_only_the_ann_module_imports_usearch() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("src", "tests", "bench")
        for p in (ROOT / folder).rglob("*.py")
        if p != OWNER and IMPORTS_USEARCH.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"import usearch only through paperboy.index.ann: {offenders}"


@pytest.mark.skipif(
    importlib.util.find_spec("usearch") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="needs usearch and onnxruntime",
)
def test_onnxruntime_loads_after_the_vector_index() -> None:
    """In a fresh interpreter: use the vector index first (usearch loaded), then onnxruntime, then embed."""
    code = (
        "import numpy as np\n"
        "from paperboy.index.vectors import VectorIndex, _usearch\n"
        "_usearch()\n"
        "import onnxruntime\n"
        "print(onnxruntime.get_device())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
