# runbook.ops developer entry points. Every target sets up what it needs first
# (scripts/setup.sh is idempotent and fast when nothing changed).
SHELL := /bin/bash
VENV := .venv/bin
PYTEST := $(VENV)/pytest
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup demo test test-unit test-integration lint sanity build-check bench clean

setup:
	@bash scripts/setup.sh

## The README's demo: an embedded local stack (PostgreSQL + Redis), a playbook run against it.
demo: setup
	$(VENV)/python scripts/demo.py

## The README's test command (also what .ci/run calls): everything CI checks.
## Hosts first (a Docker engine, podman and the locally built host images, cached), then the
## unit and integration tests on both cores (each pytest worker starts its own servers),
## lint, ansible-test sanity, the build check, and the molecule scenarios two at a time.
PYTEST_WORKERS ?= 2
test: setup
	bash scripts/setup_docker.sh
	bash scripts/setup_molecule_hosts.sh
	$(PYTEST) tests/unit tests/integration -q -n $(PYTEST_WORKERS) --dist loadfile
	$(MAKE) --no-print-directory lint sanity build-check
	$(MAKE) --no-print-directory molecule MOLECULE_JOBS=2

test-unit: setup
	$(PYTEST) tests/unit -q

test-integration: setup
	$(PYTEST) tests/integration -q

lint: setup
	$(VENV)/ansible-lint --offline -q

sanity: setup
	bash scripts/sanity.sh

build-check: setup
	bash scripts/build_check.sh

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

## molecule scenarios on real hosts (podman containers with systemd as PID 1, built locally:
## scripts/setup_molecule_hosts.sh, cached). Each scenario: destroy, create, prepare, converge, verify,
## destroy; molecule destroys the hosts when a step fails, the trap when the run is interrupted.
## MOLECULE_JOBS=2 runs two scenarios at a time (their output grouped per scenario).
MOLECULE_SCENARIOS ?= systemd containers faults upgrade offsite
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
	rm -rf tests/output .pytest_cache reports *.tar.gz
