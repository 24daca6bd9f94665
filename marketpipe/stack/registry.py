"""The stack's Confluent-compatible schema registry: Apicurio Registry 2.6.13.Final (docs/contracts.md).

One JVM on ``settings.host:schema_registry_port`` started like the other daemons (detached,
``<run_dir>/schema-registry.pid``, log in ``<log_dir>``), healthy when the Confluent-compatible API
(``/apis/ccompat/v7/subjects``) answers. ``marketpipe stack up`` starts it when
``settings.schema_registry`` is on and then registers the topic contracts (:mod:`marketpipe.contracts`).

Storage: this distribution is built for H2 only (``quarkus.datasource.db-kind=h2`` is fixed at build
time and it ships no PostgreSQL driver; the SQL-storage build is not on Maven Central), so PostgreSQL
storage is not possible. Instead of its default in-memory H2 database it gets an H2 *file* database in
``<data_dir>/schema-registry``: subjects, versions, ids and compatibility rules survive a restart.
"""

from __future__ import annotations

import os
import shutil

from marketpipe.exceptions import InstallError
from marketpipe.monitoring.services import HttpDaemon, http_ok
from marketpipe.settings import Settings
from marketpipe.stack.jars import ensure_jars, registry_jar

# Where the Confluent-compatible API lives on an Apicurio Registry.
CCOMPAT_PATH = "/apis/ccompat/v7"
# A small registry: a few subjects, a handful of clients. Its default heap would be a quarter of RAM.
HEAP = "256m"


class SchemaRegistry(HttpDaemon):
    """Apicurio Registry with its H2 database on disk."""

    name = "schema-registry"
    port_setting = "schema_registry_port"
    health_path = CCOMPAT_PATH + "/subjects"
    start_timeout_s = 90.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.home = settings.data_dir / "schema-registry"

    @property
    def url(self) -> str:
        """Base URL of the Confluent-compatible API, as clients use it (``avro-confluent.url``)."""
        return self.settings.schema_registry_url

    def healthy(self) -> bool:
        """True if ``GET <url>/subjects`` answers 200."""
        return http_ok(self.url + "/subjects")

    def prepare(self) -> None:
        """The jar (Maven, once) and the database directory."""
        ensure_jars(self.settings)
        self.home.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        """``java -jar <runner>`` bound to ``settings.host``."""
        java = shutil.which("java")
        if java is None:
            raise InstallError("java is not on PATH; the schema registry needs Java 17+")
        return [
            java,
            f"-Xmx{HEAP}",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dquarkus.http.host={self.settings.host}",
            f"-Dquarkus.http.port={self.port}",
            "-jar",
            str(registry_jar(self.settings)),
        ]

    def env(self) -> dict[str, str]:
        """Ours plus the H2 file database (the build reads its JDBC URL from ``REGISTRY_DATASOURCE_URL``)."""
        return {**os.environ, "REGISTRY_DATASOURCE_URL": f"jdbc:h2:file:{self.home / 'registry'}"}
