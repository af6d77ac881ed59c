# SPDX-License-Identifier: GPL-3.0-or-later
"""file_backup tests import the collection's module_utils through the in-repo collections/ path."""
from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[3] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
