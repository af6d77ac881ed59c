# SPDX-License-Identifier: GPL-3.0-or-later
"""Names shared by the run report integration tests."""
from __future__ import annotations

DB = "run_report_it"
# table names an application could choose; the report must show them as text
EVIL_SCRIPT = "<script>alert(1)</script>"
PREFIX = "rrit:"
