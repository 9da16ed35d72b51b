"""Puts the repository root on `sys.path`, so a script run as `python bench/x.py` imports the development tools.

`devtools/` sits beside `federation/` but is not installed with it (it is not part of the product): importing this
module first is what lets the benchmarks use the load generator and the crash harness.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
