# SPDX-License-Identifier: GPL-3.0-or-later
"""Real-server test harness: PostgreSQL and Redis from Debian's packages,
started on loopback in temporary directories, and a runner that calls the
collection's modules through Ansible the way users do."""
