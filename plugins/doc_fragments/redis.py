# -*- coding: utf-8 -*-
# Copyright (c) runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options of every Redis module (module_utils/_redis.py).
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the Redis server (for a Redis Cluster any node; every primary is found from it).
    type: str
    default: localhost
    aliases: [host]
  login_port:
    description: TCP port of the server.
    type: int
    default: 6379
    aliases: [port]
  login_unix_socket:
    description: Path of the server's Unix socket; takes precedence over O(login_host) and O(login_port).
    type: path
    aliases: [unix_socket]
  db:
    description: Database number (a Redis Cluster has only database 0).
    type: int
    default: 0
  login_user:
    description: ACL user name (Redis 6+). Empty means the C(default) user.
    type: str
    aliases: [user]
  login_password:
    description:
      - Password of O(login_user) (or the C(requirepass) password). Passed to redis-py directly,
        never on a command line, never logged or returned.
    type: str
    aliases: [password]
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description: With O(tls), verify the server certificate and host name.
    type: bool
    default: true
  ca_certs:
    description: With O(tls), CA bundle to verify the server certificate.
    type: path
  client_cert_file:
    description: With O(tls), client certificate file.
    type: path
  client_key_file:
    description: With O(tls), client private key file (needs O(client_cert_file)).
    type: path
  socket_timeout:
    description:
      - Seconds to wait for the complete reply to one command, in total (a server that sends a byte now
        and then does not extend it). Past it the module fails with C(no complete answer within N s (deadline)).
      - Commands are not retried after a timeout.
    type: float
    default: 30.0
  connect_timeout:
    description:
      - Seconds that connecting may take in total - TCP connect, TLS handshake and the AUTH/HELLO/SELECT
        exchange together, however the server answers.
      - On a Redis Cluster, also the bound of the whole discovery of its nodes.
    type: float
    default: 5.0
requirements:
  - redis (redis-py) >= 4.1 on the managed host; C(hiredis) makes large scans faster
notes:
  - All Redis modules of runbook.ops take these options; set them once for a play with
    C(module_defaults) and the action group C(group/runbook.ops.redis).
  - On a Redis Cluster (C(cluster_enabled:1) in INFO) the modules act on every primary.
  - "Time bound: against a server that stops answering (silent, dripping, resetting or stopping in the
    middle of the TLS handshake) the module fails within O(connect_timeout) + O(socket_timeout) plus a
    margin of 1 s. Each further command waits at most O(socket_timeout). Discovering the nodes of a Redis
    Cluster (redis-py's C(CLUSTER SLOTS) and C(COMMAND), its connections included) takes at most
    O(connect_timeout) in total."
"""
