# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX configuration as code (awx/): what can be checked without an AWX.

Every job template names a playbook of the project, every survey variable is one its playbook
(or the roles it runs) reads, every schedule's RRULE is one AWX accepts, parses with
python-dateutil and fires when intended, the credential types inject exactly the connection
options the modules take, and the workflow chains backup -> upgrade -> verify.
"""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import ansible
import jinja2
import pytest
import yaml
from dateutil import rrule as rr
from dateutil import tz
from harness.awx import inject_extra_vars

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "awx"
BIN = Path(sys.executable).parent

SCHEDULE_PLAYBOOKS = {"daily", "weekly", "monthly", "quarterly", "backup", "restore", "upgrade", "system_update", "merge_slices",
                      "monitoring"}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
SECRET_NAME = re.compile(r"pass(word|phrase)|secret|token|private_key", re.I)


class _Loader(yaml.SafeLoader):
    """YAML as Ansible reads it, with !unsafe strings kept as they are (AWX renders them)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def render(value, variables: dict):
    """Render the Ansible-templated strings of the vars file (not the !unsafe AWX ones)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    if isinstance(value, str):
        return env.from_string(value).render(**variables)
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value


@pytest.fixture(scope="module")
def awx_vars():
    return load(AWX / "vars" / "runbook.yml")


@pytest.fixture(scope="module")
def templates(awx_vars):
    return {t["key"]: t for t in awx_vars["runbook_awx_job_templates"]}


def roles_of(playbook: Path) -> list[Path]:
    """The collection roles a playbook runs (roles:, include_role, import_role), with their dependencies."""
    found: list[Path] = []
    todo = [playbook.read_text()]
    while todo:
        text = todo.pop()
        for name in re.findall(r"runbook\.ops\.(\w+)", text):
            role = REPO / "roles" / name
            if role.is_dir() and role not in found:
                found.append(role)
                meta = role / "meta" / "main.yml"
                if meta.is_file():
                    todo.append(meta.read_text())
    return found


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_COND = re.compile(r"^(\s*)(?:- )?(when|that|failed_when|changed_when|until):(.*)$")


def _expressions(text: str) -> list[str]:
    """The Jinja expressions of a YAML file: {{ }} / {% %} spans and conditionals (when:, that:, ... and their items)."""
    found = _JINJA.findall(text)
    cond_indent = None
    for line in text.splitlines():
        if cond_indent is not None:
            item = re.match(r"^(\s*)- (.*)$", line)
            if item and len(item.group(1)) >= cond_indent:
                found.append(item.group(2))
                continue
            cond_indent = None
        match = _COND.match(line)
        if match:
            if match.group(3).strip():
                found.append(match.group(3))
            else:
                cond_indent = len(match.group(1))
    return found


def reads(playbook: Path, variable: str) -> bool:
    """True when the playbook, or a task file, handler or template of its roles, uses the variable in an expression.

    A role's defaults and argument specs only declare a variable, and a message only names it."""
    texts = [playbook.read_text()]
    for role in roles_of(playbook):
        for sub in ("tasks", "templates", "handlers"):
            texts += [p.read_text() for p in sorted((role / sub).glob("*")) if p.is_file()]
    word = re.compile(rf"(?<![\w.\'\"]){re.escape(variable)}(?![\w\'\"])")
    return any(word.search(expr) for text in texts for expr in _expressions(text))


def test_one_template_per_schedule_playbook_and_each_names_an_existing_playbook(templates):
    assert set(templates) == SCHEDULE_PLAYBOOKS
    for key, template in templates.items():
        playbook = REPO / template["playbook"]
        assert playbook.is_file(), f"template {key}: {template['playbook']} is not a file of the project"
        assert template["playbook"] == f"playbooks/{key}.yml"
        assert yaml.safe_load(playbook.read_text()), playbook
    # every schedule playbook of the project is offered (demo.yml is the README's demo)
    offered = {Path(t["playbook"]).stem for t in templates.values()}
    assert {p.stem for p in (REPO / "playbooks").glob("*.yml")} - offered <= {"demo"}


def test_every_survey_variable_is_read_by_its_playbook(awx_vars, templates):
    checked = 0
    for key, template in templates.items():
        for question in template.get("survey", {}).get("spec", []):
            assert reads(REPO / template["playbook"], question["variable"]), \
                f"{key}: survey variable {question['variable']} is not read by {template['playbook']} or its roles"
            checked += 1
    # the workflow's survey answers reach every node: at least one node's playbook must read each
    node_playbooks = [REPO / templates[n["unified_job_template"]["name"].split()[-1]]["playbook"]
                      for n in awx_vars["runbook_awx_workflow"]["nodes"]]
    for question in awx_vars["runbook_awx_workflow"]["survey"]["spec"]:
        assert any(reads(p, question["variable"]) for p in node_playbooks), question["variable"]
        checked += 1
    assert checked >= 7


def test_the_read_check_can_fail():
    assert not reads(REPO / "playbooks" / "system_update.yml", "pg_backup_restore_database")
    assert not reads(REPO / "playbooks" / "restore.yml", "no_such_variable_anywhere")
    assert reads(REPO / "playbooks" / "restore.yml", "pg_backup_restore_database")


def test_surveys_are_valid_awx_survey_specs(awx_vars, templates):
    assert {k for k, t in templates.items() if "survey" in t} == {"restore", "upgrade", "merge_slices"}
    surveys = [t["survey"] for t in templates.values() if "survey" in t] + [awx_vars["runbook_awx_workflow"]["survey"]]
    for survey in surveys:
        assert survey["name"] and "description" in survey
        variables = [q["variable"] for q in survey["spec"]]
        assert len(variables) == len(set(variables))
        for q in survey["spec"]:
            assert q["type"] in SURVEY_TYPES, q
            assert re.fullmatch(r"[A-Za-z_]\w*", q["variable"]) and q["question_name"], q
            assert isinstance(q["required"], bool)
            if q["type"] in ("multiplechoice", "multiselect"):
                assert isinstance(q["choices"], list) and q["default"] in q["choices"], q
            if q["type"] in ("text", "textarea", "password"):
                assert 0 <= q["min"] <= q["max"]
                assert q["default"] == "" or q["min"] <= len(q["default"]) <= q["max"], q
            # secrets are asked as passwords (hidden in the UI and the job's extra variables)
            if SECRET_NAME.search(q["variable"]):
                assert q["type"] == "password" and not q.get("default"), q
            if q["type"] == "password":
                assert not q.get("default"), q
    restore = {q["variable"]: q for q in templates["restore"]["survey"]["spec"]}
    assert restore["pg_backup_restore_database"]["required"] and restore["pg_backup_restore_backup"]["default"] == "latest"
    assert {q["variable"] for q in templates["upgrade"]["survey"]["spec"]} >= {"app_upgrade_version"}


def _schedule_rrules(awx_vars, timezone: str) -> dict[str, str]:
    variables = dict(awx_vars, runbook_awx_timezone=timezone)
    return {s["template"]: render(s["rrule"], variables) for s in awx_vars["runbook_awx_schedules"]}


def _awx_accepts(rule: str) -> None:
    """The constraints AWX's schedule serializer puts on an RRULE, beyond RFC 5545."""
    match = re.fullmatch(r"DTSTART;TZID=([\w/+-]+):(\d{8}T\d{6}) RRULE:([A-Z0-9=;,-]+)", rule)
    assert match, f"AWX wants 'DTSTART;TZID=<zone>:<local time> RRULE:<rule>': {rule}"
    assert tz.gettz(match.group(1)) is not None, f"unknown time zone {match.group(1)}"
    parts = dict(p.split("=", 1) for p in match.group(3).split(";"))
    assert parts["FREQ"] in {"MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
    assert "INTERVAL" in parts, "AWX requires INTERVAL"
    assert not ({"COUNT", "UNTIL"} <= set(parts)), "COUNT and UNTIL together"
    assert not ({"BYYEARDAY", "BYWEEKNO"} & set(parts)), "AWX does not support BYYEARDAY / BYWEEKNO"
    assert not re.search(r"BYDAY=[^;]*\d", match.group(3)), "AWX does not support BYDAY with a number prefix"


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_every_rrule_parses_and_fires_when_intended(awx_vars, templates, timezone):
    rules = _schedule_rrules(awx_vars, timezone)
    assert set(rules) == {"backup", "daily", "weekly", "monthly", "quarterly"} and set(rules) <= set(templates)
    zone = tz.gettz(timezone)
    runs = {}
    for key, rule in rules.items():
        _awx_accepts(rule)
        parsed = rr.rrulestr(rule, forceset=True)
        runs[key] = parsed.between(dt.datetime(2026, 1, 1, tzinfo=zone), dt.datetime(2028, 1, 1, tzinfo=zone), inc=True)
        assert runs[key], key
        assert all(r.tzinfo is not None and r.tzinfo.tzname(r.replace(tzinfo=None)) == zone.tzname(r.replace(tzinfo=None))
                   for r in runs[key][:3]), key

    def local(r):
        return r.astimezone(zone)

    # backup nightly at 01:00, daily at 02:00: every day of the two years, once
    for key, hour in (("backup", 1), ("daily", 2)):
        days = [local(r).date() for r in runs[key]]
        assert len(days) == 730 and len(set(days)) == 730, key
        assert {(local(r).hour, local(r).minute) for r in runs[key]} == {(hour, 0)}, key
    # weekly: every Sunday at 03:00
    weekly = runs["weekly"]
    assert {local(r).weekday() for r in weekly} == {6} and {local(r).hour for r in weekly} == {3}
    assert len(weekly) in (104, 105) and all((b.date() - a.date()).days == 7 for a, b in zip(weekly, weekly[1:]))
    # monthly: the 1st of every month at 04:00
    monthly = runs["monthly"]
    assert [(local(r).year, local(r).month, local(r).day, local(r).hour) for r in monthly] == \
        [(y, m, 1, 4) for y in (2026, 2027) for m in range(1, 13)]
    # quarterly: 1 January, April, July, October at 06:00
    quarterly = runs["quarterly"]
    assert [(local(r).year, local(r).month, local(r).day, local(r).hour) for r in quarterly] == \
        [(y, m, 1, 6) for y in (2026, 2027) for m in (1, 4, 7, 10)]
    # the maintenance schedules never start while the nightly backup would (01:00-02:00)
    assert not {local(r).hour for k in ("weekly", "monthly", "quarterly") for r in runs[k]} & {1}


def test_an_rrule_that_awx_would_refuse_is_caught():
    with pytest.raises(AssertionError):
        _awx_accepts("DTSTART:20260101T020000Z RRULE:FREQ=DAILY")
    with pytest.raises(AssertionError):
        _awx_accepts("DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1SU")


def _doc_options(fragment: str) -> dict:
    text = (REPO / "plugins" / "doc_fragments" / f"{fragment}.py").read_text()
    doc = re.search(r'DOCUMENTATION\s*=\s*r?"""(.*?)"""', text, re.S).group(1)
    return yaml.safe_load(doc)["options"]


@pytest.mark.parametrize(("key", "fragment", "variable"), [("postgres", "postgres", "runbook_pg_login"),
                                                           ("redis", "redis", "runbook_redis_login")])
def test_credential_types_inject_the_connection_options_of_the_modules(awx_vars, key, fragment, variable):
    ctype = {c["key"]: c for c in awx_vars["runbook_awx_credential_types"]}[key]
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert set(ctype["inputs"]["required"]) <= set(fields)
    # secrets: marked secret, injected only as an extra variable (no env, no file that a task might print)
    assert [f for f in fields if fields[f].get("secret")] == ["password"]
    assert set(ctype["injectors"]) == {"extra_vars"} and list(ctype["injectors"]["extra_vars"]) == [variable]
    options = _doc_options(fragment)
    # only the required inputs given: the defaults fill in
    minimal = {name: "x" for name in ctype["inputs"]["required"]}
    injected = inject_extra_vars(ctype, minimal)[variable]
    assert set(injected) <= set(options), set(injected) - set(options)
    assert injected["login_host"] == "x" and int(injected["login_port"]) == options["login_port"]["default"]
    for field, value in injected.items():
        if options[field].get("choices"):
            assert value in options[field]["choices"], (field, value)
    # every input reaches the modules
    full = {f: ("s3cr{{et" if f == "password" else "5433" if f == "port" else True if fields[f]["type"] == "boolean"
                else fields[f].get("default", "v")) for f in fields}
    injected = inject_extra_vars(ctype, full)[variable]
    assert injected["login_password"] == "s3cr{{et" and injected["login_port"] == "5433"
    for role in ("pg_maintenance", "pg_backup") if key == "postgres" else ("redis",):
        assert variable in (REPO / "roles" / role / "defaults" / "main.yml").read_text()


def test_injector_templates_are_not_rendered_by_ansible():
    raw = (AWX / "vars" / "runbook.yml").read_text()
    injector_lines = [line for line in raw.splitlines() if re.search(r"login_\w+: .*\{\{", line)]
    assert injector_lines and all("!unsafe" in line for line in injector_lines)


def test_workflow_is_backup_then_upgrade_then_verify(awx_vars, templates):
    workflow = awx_vars["runbook_awx_workflow"]
    variables = dict(awx_vars)
    nodes = {n["identifier"]: render(n, variables) for n in workflow["nodes"]}
    prefix = awx_vars["runbook_awx_prefix"]
    for node in nodes.values():
        ujt = node["unified_job_template"]
        assert ujt["type"] == "job_template" and ujt["name"].startswith(prefix + " ")
        assert ujt["name"][len(prefix) + 1:] in templates
        for child in node["related"]["success_nodes"]:
            assert child["identifier"] in nodes
    chain, node = [], "backup"
    while node:
        chain.append(nodes[node]["unified_job_template"]["name"][len(prefix) + 1:])
        children = nodes[node]["related"]["success_nodes"]
        node = children[0]["identifier"] if children else None
    assert chain == ["backup", "upgrade", "daily"]
    # what the backup publishes for AWX (stats of the whole run, not per host) reaches the later nodes as
    # artifacts: runbook_reports from the action runbook.ops.host_report, the run report from set_stats
    report_tasks = "".join(p.read_text() for p in (REPO / "roles" / "report" / "tasks").glob("*.yml"))
    assert "runbook.ops.host_report:" in report_tasks
    action = (REPO / "plugins" / "action" / "host_report.py").read_text()
    assert re.search(r'"runbook_reports":.*\n.*\n\s*"per_host": False, "aggregate": True', action)
    assert re.search(r"set_stats:\s*\n\s*data:\s*\n\s*runbook_run_report:", report_tasks)
    assert "per_host: false" in report_tasks


def _task(play: dict, module: str) -> dict:
    tasks = [t for t in play["tasks"] if module in t]
    assert len(tasks) == 1, module
    return tasks[0][module]


def test_configure_playbook_uses_awx_modules_as_documented():
    play = load(AWX / "configure.yml")[0]
    assert play["hosts"] == "localhost" and play["vars_files"] == ["vars/runbook.yml"]
    jt = _task(play, "awx.awx.job_template")
    for ask in ("ask_limit_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch"):
        assert jt[ask] is True, ask
    assert jt["job_type"] == "run" and jt["survey_spec"] == "{{ item.survey | default(omit) }}"
    ctype = _task(play, "awx.awx.credential_type")
    assert ctype["kind"] == "cloud"  # custom credential types are cloud (or net)
    cred_task = [t for t in play["tasks"] if "awx.awx.credential" in t][0]
    assert cred_task["no_log"] is True
    assert _task(play, "awx.awx.workflow_job_template")["workflow_nodes"] == "{{ runbook_awx_workflow.nodes }}"
    # failed jobs notify through the templates the variables ask for; their secrets are never printed
    notify = next(t for t in play["tasks"] if "awx.awx.notification_template" in t)
    assert notify["no_log"] is True and notify["loop"] == "{{ _runbook_awx_notifications }}"
    assert "_runbook_awx_notifications" in jt["notification_templates_error"] and "omit" in jt["notification_templates_error"]
    awx_vars = load(AWX / "vars" / "runbook.yml")
    assert awx_vars["runbook_awx_notify_webhook_url"] == "" and awx_vars["runbook_awx_notify_email_to"] == []
    # every option used exists in the awx.awx module of the installed `ansible` package
    moddir = Path(ansible.__file__).resolve().parents[1] / "ansible_collections" / "awx" / "awx" / "plugins" / "modules"
    for task in play["tasks"]:
        for module, args in task.items():
            if not module.startswith("awx.awx."):
                continue
            doc = yaml.safe_load(re.search(r"DOCUMENTATION\s*=\s*'''(.*?)'''", (moddir / f"{module[8:]}.py").read_text(),
                                           re.S).group(1))
            known = set(doc["options"])
            for opt in doc["options"].values():
                known |= set(opt.get("aliases", []))
            assert set(args) <= known, (module, set(args) - known)


def test_configure_playbook_syntax():
    proc = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "awx/configure.yml"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                               "HOME": str(Path.home()), "ANSIBLE_LOCALHOST_WARNING": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sliced_templates_are_the_parallel_schedules_and_monthly_leaves_its_serial_updates_out(templates):
    sliced = {k for k, t in templates.items() if t.get("sliced")}
    assert sliced == {"daily", "weekly", "backup", "monthly"}
    # the rolling upgrade and the system updates are serial: never sliced
    assert not templates["upgrade"].get("sliced") and not templates["system_update"].get("sliced")
    assert templates["monthly"]["sliced_extra_vars"] == {"runbook_monthly_system_update": False}
    assert reads(REPO / "playbooks" / "monthly.yml", "runbook_monthly_system_update")
    assert templates["merge_slices"]["merges_slices"] is True
    assert reads(REPO / "playbooks" / "merge_slices.yml", "runbook_report_store")


def test_configure_gives_sliced_templates_their_count_and_store():
    play = yaml.safe_load((REPO / "awx" / "configure.yml").read_text())[0]
    task = next(t for t in play["tasks"] if t.get("name") == "Job templates, one per schedule playbook")
    args = task["awx.awx.job_template"]
    assert "runbook_awx_job_slice_count" in args["job_slice_count"] and "item.sliced" in args["job_slice_count"]
    assert "_runbook_awx_slice_vars" in args["extra_vars"]
    assert set(play["vars"]["_runbook_awx_slice_vars"]) == {"runbook_report_store", "runbook_report_slice_count"}
