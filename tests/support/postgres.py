"""A real PostgreSQL server for the tests: Debian's `postgresql` package, `initdb` in a temporary
folder, listening on a free loopback port, stopped (and its folder removed) at the end.

`make test` (scripts/ensure-postgresql.sh) installs the package when it is missing; a machine
without it fails the tests that need it instead of skipping them. PostgreSQL refuses to run as
root, so as root the server runs as the package's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from tests.support.model_server import free_port

USER = "medgemma"
DATABASE = "medgemma"


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, under /usr/lib/postgresql/N."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def _demote(account: pwd.struct_passwd) -> Callable[[], None]:
    def run() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return run


class PostgresServer:
    """`with PostgresServer() as pg:` then `pg.new_url()` for a database URL with a schema of its
    own (so tests never see each other's tables), or `pg.url` for the shared default schema."""

    def __init__(self, *, fsync: bool = False) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL is not installed: run `bash scripts/ensure-postgresql.sh` "
                "(apt-get install postgresql)."
            )
        self.bin_dir = bin_dir
        self.fsync = fsync
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="medgemma-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def new_url(self, prefix: str = "t") -> str:
        """A URL whose connections use a fresh schema (created here), as a fresh database."""
        import psycopg

        schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return f"{self.url}?options={quote(f'-c search_path={schema}')}"

    def _run(self, *args: str) -> None:
        demote = _demote(self._account) if self._account else None
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=demote,  # drops root before exec (PostgreSQL refuses root)
            cwd=self.folder,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr}\n{log}")

    def start(self) -> PostgresServer:
        if self._account:
            os.chown(self.folder, self._account.pw_uid, self._account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=en_US.UTF-8" if _has_locale("en_US.utf8") else "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            f"-c max_connections=200 -c fsync={'on' if self.fsync else 'off'} "
            "-c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        import psycopg

        with psycopg.connect(
            f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _has_locale(name: str) -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return name in out.lower().split()
