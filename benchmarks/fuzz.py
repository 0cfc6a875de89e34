"""The long fuzz run of issue 13 (prints the outcome table; not a pass/fail test).

Generated scenario files (``tests/fuzz.py``: mutations of the shipped scenarios driven by the
scenario schema, plus raw-byte cases) go through ``validate``, ``power`` (N 10) and ``run``
in worker processes with a 60 s hang limit, a 6 GB address-space limit and the documented time
budget set to 30 s. Every outcome must be a clean one-line error (rc 2) or a successful run.

Usage::

    python benchmarks/fuzz.py --cases 5000 --keep /tmp/fuzz   # about an hour on 2 cores
    python benchmarks/fuzz.py --cases 200 --start 5000        # another slice of the same seed
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
