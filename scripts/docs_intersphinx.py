# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the intersphinx inventory of the Ansible documentation labels the generated pages refer to.

    python scripts/docs_intersphinx.py RST_DIR INVENTORY

The pages antsibull-docs writes link to docs.ansible.com (common return values, configuration settings,
ansible.builtin modules). Sphinx resolves such links through that site's inventory, which a build without
network cannot download; this writes the few entries the pages use, with their real addresses, so every
link resolves and still points at docs.ansible.com. A label it does not know fails the build by name.
"""
from __future__ import annotations

import re
import sys
import zlib
from pathlib import Path

# label -> page under https://docs.ansible.com/projects/ansible/devel/
KNOWN = {
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
    "callback_plugins": ("plugins/callback.html", "Callback plugins"),
    "action_plugins": ("plugins/action.html", "Action plugins"),
}
BUILTIN = re.compile(r"ansible_collections\.ansible\.builtin\.(\w+)_(module|filter|test|lookup|callback|connection)")


def labels(rst_dir: Path) -> set[str]:
    """:ref: targets of the pages that the pages themselves do not define."""
    text = "\n".join(p.read_text() for p in rst_dir.rglob("*.rst"))
    refs = {m.group(2) or m.group(1) for m in re.finditer(r":ref:`([^`<]*?)(?:\s*<([^>`]+)>)?`", text)}
    defined = set(re.findall(r"^\.\. _([^:]+):", text, re.M))
    return {r.strip() for r in refs} - defined


def entry(label: str) -> tuple[str, str]:
    if label in KNOWN:
        return KNOWN[label]
    m = BUILTIN.fullmatch(label)
    if m:
        return f"collections/ansible/builtin/{m.group(1)}_{m.group(2)}.html", f"ansible.builtin.{m.group(1)}"
    raise SystemExit(f"docs_intersphinx: the pages refer to {label!r}, which this script does not know: "
                     "add its docs.ansible.com page to KNOWN")


def main(argv: list[str]) -> int:
    rst_dir, inventory = Path(argv[1]), Path(argv[2])
    lines = []
    for label in sorted(labels(rst_dir)):
        page, title = entry(label)
        anchor = label.replace("_", "-").replace(".", "-")
        lines.append(f"{label} std:label -1 {page}#{anchor} {title}\n")
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              "# The remainder of this file is compressed using zlib.\n")
    inventory.write_bytes(header.encode() + zlib.compress("".join(lines).encode()))
    print(f"docs_intersphinx: {len(lines)} docs.ansible.com labels")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
