"""The one module in paperboy that imports usearch, and it imports onnxruntime first.

Why: usearch loads its NumKong kernels with ``RTLD_GLOBAL``, and importing onnxruntime *after* that crashes the
process with a segmentation fault (onnxruntime 1.32 / usearch 2.26 / numkong 7.8); the other order is fine.  A
guard inside a function (the old ``vectors._usearch``) could not help once anything had imported usearch before
it.  So every use of usearch goes through this module (``tests/test_import_order.py`` fails if another module
imports usearch), which makes the order impossible to get wrong inside paperboy.  Code outside paperboy that
wants usearch directly should import this module (or onnxruntime) first.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("onnxruntime") is not None:
    import onnxruntime  # noqa: F401 - must be loaded before usearch (see above)

from usearch import index as usearch  # noqa: E402 - deliberately after onnxruntime

__all__ = ["usearch"]
