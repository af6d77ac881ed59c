# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role has a README.md (Galaxy's importer rejects a collection whose roles have none) in one
format - Purpose / Variables / Example / systemd and container hosts - whose Variables table names
exactly the options of the role's meta/argument_specs.yml, and that names no variable of the role
that does not exist."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
SECTIONS = ["Purpose", "Variables", "Example", "systemd and container hosts"]


def spec_of(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]


def sections(text: str) -> dict[str, str]:
    """Level-2 heading -> its text, in order."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def table_variables(section: str) -> list[str]:
    """First column of the Variables table: `name` of each row."""
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)` \|", row).group(1) for row in rows]


def test_every_role_directory_has_an_argument_spec_and_a_readme():
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
    assert roles == ROLES, "a role without meta/argument_specs.yml"
    assert [r for r in roles if not (REPO / "roles" / r / "README.md").is_file()] == []


@pytest.mark.parametrize("role", ROLES)
def test_readme_has_the_sections_in_order(role):
    text = (REPO / "roles" / role / "README.md").read_text()
    assert text.startswith(f"# runbook.ops.{role}\n")
    assert list(sections(text)) == SECTIONS
    assert "```yaml" in sections(text)["Example"]
    example = sections(text)["Example"].split("```yaml")[1].split("```")[0]
    assert isinstance(yaml.safe_load(example), list), "the example is not a playbook"
    # in a play's roles, or by include_role / import_role
    assert re.search(rf"(role|name): runbook\.ops\.{role}\b", example), "the example does not use the role"


@pytest.mark.parametrize("role", ROLES)
def test_variables_table_names_exactly_the_argument_spec_options(role):
    options = spec_of(role)["options"]
    listed = table_variables(sections((REPO / "roles" / role / "README.md").read_text())["Variables"])
    assert [v for v in options if v not in listed] == [], "options missing from the README"
    assert [v for v in listed if v not in options] == [], "README rows that are not options"
    assert len(listed) == len(set(listed)), "a variable listed twice"


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_no_variable_of_the_role_that_does_not_exist(role):
    """Any `<role>_...` name in the README is an option, or a fact/registered result the argument spec's
    description names (e.g. pg_backup_results)."""
    spec = spec_of(role)
    known = set(spec["options"]) | set(re.findall(rf"\b{role}_\w+", yaml.safe_dump(spec["description"], width=10**6)))
    text = (REPO / "roles" / role / "README.md").read_text()
    unknown = sorted(set(re.findall(rf"\b{role}_\w+", text)) - known)
    assert unknown == []


@pytest.mark.parametrize("role", ROLES)
def test_example_sets_only_options_of_the_role(role):
    options = spec_of(role)["options"]
    text = sections((REPO / "roles" / role / "README.md").read_text())["Example"]
    example = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    for play in example:
        for entry in play.get("roles", []):
            if isinstance(entry, dict) and entry.get("role") == f"runbook.ops.{role}":
                assert [v for v in entry.get("vars", {}) if v not in options] == []
                required = [k for k, o in options.items() if o.get("required")]
                assert [k for k in required if k not in entry.get("vars", {})] == [], "a required option is missing"


def test_the_check_finds_a_missing_and_an_invented_option(tmp_path):
    """The table parser on a README with one option too few and one too many."""
    text = ("# runbook.ops.x\n\n## Purpose\n\np\n\n## Variables\n\n| Variable | Default | Meaning |\n|---|---|---|\n"
            "| `x_a` | `1` | a |\n| `x_invented` | `2` | b |\n\n## Example\n\n## systemd and container hosts\n")
    listed = table_variables(sections(text)["Variables"])
    options = {"x_a": {}, "x_b": {}}
    assert [v for v in options if v not in listed] == ["x_b"]
    assert [v for v in listed if v not in options] == ["x_invented"]
