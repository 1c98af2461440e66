"""A throwaway PostgreSQL cluster for tests (Debian's ``postgresql`` package).

``initdb`` into a fresh temp dir, ``pg_ctl start`` on a free port, no TCP
listener at all (``listen_addresses = ''``): clients connect through a unix
socket in the temp dir.  PostgreSQL refuses to run as root, so when the tests
run as root (CI) the cluster runs as the ``postgres`` system user through
``runuser``.  ``stop()`` shuts it down fast and removes the directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from kiosk.fleet.broker import free_port


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PgCluster:
    def __init__(self) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (make apt: the postgresql package)")
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bibkiosk-pg-"))
        self.data = self.dir / "data"
        self.sockets = self.dir / "run"
        self.sockets.mkdir()
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.dir, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self._dbs = 0

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._prefix, *args], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, cwd=self.dir)
        if proc.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()}\n{tail}")

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        opts = f"-p {self.port} -k {self.sockets} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", opts, "-w", "-t", "30", "start")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql:///{dbname}?host={self.sockets}&port={self.port}&user=postgres"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        self._dbs += 1
        name = f"t{self._dbs}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
