# SPDX-License-Identifier: GPL-3.0-or-later
"""The docs site scripts/build_docs.sh built (`make docs` builds it, then runs this), opened in headless
Chromium: the index links to a page of every module, role and the callback, and pg_backup's page shows
every option ansible-doc knows for it (its fragments' options included), without fetching anything from
the network. DOCS_SITE names another built site (default build/docs/html)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from harness.browser import chromium  # noqa: E402

SITE = Path(os.environ.get("DOCS_SITE", REPO / "build" / "docs" / "html"))


class _Anchors(HTMLParser):
    """Every id and every href of a page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.add(attrs["href"].split("#")[0])


def rendered(page: Path, out: Path) -> _Anchors:
    """The DOM Chromium rendered, parsed; the page must not have requested anything but local files."""
    dom, requests = chromium(page, out, "--dump-dom")
    assert [r["url"] for r in requests if not r["url"].startswith(("file:", "data:"))] == []
    parsed = _Anchors()
    parsed.feed(dom)
    return parsed


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no docs site at {SITE}: run scripts/build_docs.sh (make docs)")
    return SITE


def test_index_links_every_module_role_and_the_callback(site, tmp_path):
    pages = {f"{p.stem}_module.html" for p in (REPO / "plugins" / "modules").glob("*.py")}
    pages |= {f"{p.name}_role.html" for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()}
    pages |= {f"{p.stem}_callback.html" for p in (REPO / "plugins" / "callback").glob("*.py")}
    index = rendered(site / "index.html", tmp_path)
    assert sorted(pages - index.hrefs) == []
    assert sorted(p for p in pages if not (site / p).is_file()) == []


def test_pg_backup_page_shows_every_option(site, tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"))
    doc = json.loads(subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "--json", "runbook.ops.pg_backup"],
                                    env=env, check=True, capture_output=True, text=True).stdout)
    options = doc["runbook.ops.pg_backup"]["doc"]["options"]
    assert {"backup_dir", "databases", "format", "verify"} <= set(options)
    page = rendered(site / "pg_backup_module.html", tmp_path)
    shown = {m.group(1) for i in page.ids if (m := re.fullmatch(r"parameter-([a-z0-9_]+)", i))}
    assert sorted(set(options) - shown) == []
    # every other anchor of an option is one of its aliases (login_host's host, ...)
    aliases = {a for o in options.values() for a in o.get("aliases", [])}
    assert sorted(shown - set(options) - aliases) == []
