# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options of every PostgreSQL module (module_utils/_postgres.py).
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server.
      - Empty means the default Unix socket of libpq.
    type: str
    default: ''
    aliases: [host]
  login_port:
    description: TCP port of the server (also the socket file suffix).
    type: int
    default: 5432
    aliases: [port]
  login_unix_socket:
    description: Directory of the server's Unix socket; takes precedence over O(login_host).
    type: str
    default: ''
    aliases: [unix_socket]
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
    aliases: [user]
  login_password:
    description:
      - Password of O(login_user). Passed to libpq directly, never on a command line, never logged.
    type: str
    default: ''
    aliases: [password]
  login_db:
    description: Database to connect to for cluster-wide queries (listing databases, sessions).
    type: str
    default: postgres
    aliases: [maintenance_db]
  ssl_mode:
    description: libpq C(sslmode).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate file to verify the server (libpq C(sslrootcert)).
    type: path
    aliases: [ssl_rootcert]
  ssl_cert:
    description: Client certificate file (libpq C(sslcert)).
    type: path
  ssl_key:
    description: Client private key file (libpq C(sslkey)).
    type: path
  connect_timeout:
    description:
      - Seconds that connecting may take in total - TCP connect, TLS handshake, startup and authentication
        together, however the server answers (silent, one byte at a time, stalled in the TLS handshake).
        Past it the module fails with C(no complete answer within N s (deadline)).
      - As in libpq, values below 2 count as 2, and V(0) means libpq's default (130 s).
      - pg_dump and pg_restore get the same bound (C(PGCONNECT_TIMEOUT)).
    type: int
    default: 10
  statement_timeout:
    description:
      - Seconds one SQL statement of the module may run, once connected. The server cancels it then
        (the session's C(statement_timeout); the server's own setting still applies when it is lower),
        and the client gives up 1 s later should the server not answer at all (silent, or one byte at a time).
        Either way the module fails saying C(statement exceeded statement_timeout=Ns).
      - V(0) sets no bound of the module's own; the server's C(statement_timeout) applies.
      - pg_data_retention - each batch, count and function call. pg_backup and pg_restore - their own
        sessions (row counts in pg_dump's exported snapshot and of a scratch restore, creating and dropping
        databases); pg_dump, pg_restore and psql are not affected. pg_vacuum - its catalog queries
        (C(VACUUM), C(ANALYZE) and C(REINDEX) hold its option C(maintenance_timeout)).
    type: int
    default: 300
requirements:
  - psycopg >= 3.1 (psycopg 3) on the managed host
notes:
  - All PostgreSQL modules of runbook.ops take these options; set them once for a play with
    C(module_defaults) and the action group C(group/runbook.ops.postgres).
  - "Time bound: against a server that does not complete the connection (silent, dripping, resetting or
    stopping in the middle of the TLS handshake) the module fails within O(connect_timeout) (at least 2 s)
    plus a margin of 1 s. Once connected, each statement within O(statement_timeout) plus 1 s."
"""

    # pg_backup and pg_restore: the client tools they run
    TOOLS = r"""
options:
  tool_timeout:
    description:
      - Seconds each run of a PostgreSQL client tool (C(pg_dump), C(pg_dumpall), C(pg_restore), C(psql)) may take
        in total, its wait for the server included. Past it the tool is killed with its process group, its partial
        file is removed (earlier backups are untouched) and the module fails saying
        C(<tool> did not finish within tool_timeout=Ns).
      - V(0), the default, sets no bound; a dump then takes as long as the server's work, and a server that
        accepts the connection and then stops answering holds the module until the job's own timeout (AWX's job
        timeout, or the C(timeout) keyword on the task). Set it to a few times the longest dump you expect.
    type: int
    default: 0
"""
