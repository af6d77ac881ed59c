# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one script of the HTML run report: the host filter, and the CSP source that lets only it run.

The script is a constant of this file, never built from report data; the page's
Content-Security-Policy allows exactly this text (its sha256), so markup that came from a host
could not run even if it escaped the template's autoescape. Without scripts the page still shows
every host (the filter box stays hidden).
"""

from __future__ import annotations

import base64
import hashlib

# Each word typed must occur in a host's data-filter (name, status, outcome); the others are hidden.
SCRIPT = """
(function () {
  var box = document.getElementById("host-filter-box"), input = document.getElementById("host-filter");
  if (!box || !input) { return; }
  var shown = document.getElementById("host-shown"), hosts = document.querySelectorAll("details.host");
  function apply() {
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean), n = 0;
    for (var i = 0; i < hosts.length; i++) {
      var key = hosts[i].getAttribute("data-filter"), keep = true;
      for (var j = 0; keep && j < words.length; j++) { keep = key.indexOf(words[j]) !== -1; }
      hosts[i].hidden = !keep;
      if (keep) { n++; }
    }
    shown.textContent = n + " of " + hosts.length + " hosts shown";
  }
  input.addEventListener("input", apply);
  box.hidden = false;
  apply();
})();
"""

SCRIPT_SOURCE = "'sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii") + "'"
