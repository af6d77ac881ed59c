# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests import the collection as `ansible_collections.runbook.ops`,
resolved through the in-repo collections/ path."""
from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
