# SPDX-License-Identifier: GPL-3.0-or-later
"""The hostile tests that drive the collection's code in-process import it as `ansible_collections.runbook.ops`,
resolved through the in-repo collections/ path (as the unit tests do)."""
from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[3] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
