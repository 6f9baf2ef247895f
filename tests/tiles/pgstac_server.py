"""A STAC API that filters on the server: stac-fastapi-pgstac on PostgreSQL + PostGIS + pgstac.

:class:`PgstacApi` makes a throwaway PostgreSQL cluster in a temporary folder (``initdb``; as
root, run as the unprivileged ``postgres`` or ``nobody`` user, since PostgreSQL refuses root),
starts it on a free port of 127.0.0.1 only (its socket in that folder, durability off: the data
lives for one test session), creates PostGIS and installs pgstac in it (``pypgstac``'s
migration), loads collections and items, and serves them with ``stac-fastapi-pgstac`` under
uvicorn on another free port of 127.0.0.1; :meth:`PgstacApi.close` stops both and removes the
folder. What is missing (the Python packages, the PostgreSQL server, PostGIS) is a
:class:`PgstacUnavailable` naming the fix, which the fixture turns into a skip; any other failure
is an error. Used by tests/tiles/test_stac_pgstac.py.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.demo.stac_world import answering, free_port

INSTALL = ("install them with `make pgstac-deps` (apt-get install postgresql-15 "
           "postgresql-15-postgis-3, as root) and `make install`")
PG_BIN_ENV = "POVERTY_PIPELINE_PG_BIN"
"""A folder holding ``initdb`` and ``postgres``, used instead of looking them up."""


class PgstacUnavailable(RuntimeError):
    """A package the pgstac server needs is not installed (the message names the fix)."""


def postgres_bin() -> Path:
    """The folder of ``initdb`` and ``postgres``: :data:`PG_BIN_ENV`, else ``pg_config
    --bindir``, else beside ``initdb`` on PATH, else the newest /usr/lib/postgresql/*/bin."""
    named = os.environ.get(PG_BIN_ENV)
    candidates = [Path(named)] if named else []
    if not named:
        pg_config = shutil.which("pg_config")
        if pg_config:
            found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            candidates.append(Path(found.stdout.strip()))
        if shutil.which("initdb"):
            candidates.append(Path(shutil.which("initdb")).resolve().parent)
        debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")
                  if Path(p).parent.name.isdigit()]
        candidates += sorted(debian, key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    where = named or "pg_config --bindir, PATH and /usr/lib/postgresql/*/bin"
    raise PgstacUnavailable(f"no PostgreSQL server (initdb, postgres) in {where}; {INSTALL}")


PACKAGES = {"stac-fastapi-pgstac": "stac_fastapi.pgstac", "pypgstac": "pypgstac",
            "uvicorn": "uvicorn", "psycopg": "psycopg"}
"""The Python packages the server needs (the ``dev`` extra), by the module each provides."""


def check_python_packages() -> None:
    """Raises :class:`PgstacUnavailable` naming the packages of :data:`PACKAGES` missing."""
    missing = [name for name, module in PACKAGES.items()
               if importlib.util.find_spec(module.split(".")[0]) is None
               or importlib.util.find_spec(module) is None]
    if missing:
        raise PgstacUnavailable(f"Python package(s) {', '.join(missing)} not installed; "
                                "pip install -e '.[dev]' (or make install)")


def unprivileged() -> tuple[list[str], int, int]:
    """The command prefix that runs PostgreSQL as an unprivileged user when this is root
    (``setpriv``), and that user's uid and gid (-1: unchanged)."""
    if os.geteuid() != 0:
        return [], -1, -1
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise PgstacUnavailable("running as root without setpriv (util-linux) to start "
                                "PostgreSQL as an unprivileged user")
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ([setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                 "--"], user.pw_uid, user.pw_gid)
    raise PgstacUnavailable("running as root and no postgres or nobody user to run PostgreSQL")


class PgstacApi:
    """stac-fastapi-pgstac at :attr:`url` serving the collections and items of ``hrefs`` (the
    collection.json / items.json pairs :func:`pipeline.demo.stac_world.publish` writes), until
    :meth:`close`.

    Raises:
        PgstacUnavailable: a package it needs is missing (the message names the fix).
        RuntimeError: PostgreSQL or the API did not start within ``start_timeout_s``.
    """

    def __init__(self, hrefs: Sequence[Path], start_timeout_s: float = 60.0) -> None:
        check_python_packages()
        bindir = postgres_bin()
        prefix, uid, gid = unprivileged()
        self.folder = Path(tempfile.mkdtemp(prefix="pgstac-"))
        os.chown(self.folder, uid, gid)
        self.postgres: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.pg_port = free_port()
        self.dsn = f"postgresql://pgstac@127.0.0.1:{self.pg_port}/postgres"
        deadline = time.monotonic() + start_timeout_s
        try:
            self._start_postgres(bindir, prefix, deadline)
            self.url = self._start_api()  # it imports and connects while pgstac is installed
            self._install_and_load(bindir, hrefs)
            self._wait_for_api(deadline)
        except BaseException:
            self.close()
            raise

    def _start_postgres(self, bindir: Path, prefix: list[str], deadline: float) -> None:
        """initdb, then postgres on 127.0.0.1 only (durability off) until it accepts
        connections."""
        data = self.folder / "data"
        done = subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "pgstac",
                               "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync",
                               "--no-instructions"], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": self.folder,
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        command = [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(self.pg_port),
                   *(f"-c{key}={value}" for key, value in settings.items())]
        with open(self.folder / "postgres.log", "wb") as log:  # a pipe nobody reads could fill
            self.postgres = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        self._wait_for_postgres(deadline)

    def _start_api(self) -> str:
        """stac-fastapi-pgstac under uvicorn on a free port of 127.0.0.1; its URL."""
        port = free_port()
        env = {**os.environ, "PGUSER": "pgstac", "PGPASSWORD": "unused", "PGHOST": "127.0.0.1",
               "PGPORT": str(self.pg_port), "PGDATABASE": "postgres",
               "DB_MIN_CONN_SIZE": "1", "DB_MAX_CONN_SIZE": "4"}
        with open(self.folder / "api.log", "wb") as log:
            self.api = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app",
                 "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level",
                 "warning"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        return f"http://127.0.0.1:{port}"

    def _tail(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-2000:]

    def _wait_for_postgres(self, deadline: float) -> None:
        import psycopg

        while time.monotonic() < deadline:
            if self.postgres.poll() is not None:
                raise RuntimeError(f"postgres exited: {self._tail('postgres')}")
            try:
                psycopg.connect(self.dsn, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not accept connections at {self.dsn}")

    def _install_and_load(self, bindir: Path, hrefs: Sequence[Path]) -> None:
        import psycopg
        from pypgstac.db import PgstacDB
        from pypgstac.load import Loader, Methods
        from pypgstac.migrate import Migrate

        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
        except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as exc:
            raise PgstacUnavailable(f"PostGIS is not installed for the PostgreSQL in {bindir} "
                                    f"({str(exc).splitlines()[0]}); {INSTALL}") from exc
        with PgstacDB(dsn=self.dsn) as db:
            Migrate(db).run_migration()
            loader = Loader(db)
            documents = [json.loads(Path(href).read_text()) for href in hrefs]
            loader.load_collections(iter([d for d in documents if d["type"] == "Collection"]),
                                    Methods.insert)
            loader.load_items(iter([f for d in documents if d["type"] == "FeatureCollection"
                                    for f in d["features"]]), Methods.insert)

    def _wait_for_api(self, deadline: float) -> None:
        if answering(self.url, self.api, deadline):
            return
        if self.api.poll() is not None:
            raise RuntimeError(f"stac-fastapi-pgstac exited: {self._tail('api')}")
        raise RuntimeError(f"stac-fastapi-pgstac did not answer at {self.url}")

    def close(self) -> None:
        """Stop the API and PostgreSQL (a fast shutdown) and remove the cluster's folder."""
        for process, stop in ((self.api, signal.SIGTERM), (self.postgres, signal.SIGINT)):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(stop)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgstacApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
