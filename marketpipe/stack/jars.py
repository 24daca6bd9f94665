"""The jars the JVM services run: resolved by Maven from ``jvm/pom.xml`` into ``jvm/<module>/target/lib``.

``ensure_jars`` runs ``mvn package`` only when a module's ``lib/`` is missing, empty or older than
the POM files (or, for ``udfs``, its Java sources), so a warm ``stack up`` never waits for Maven.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from marketpipe.exceptions import InstallError
from marketpipe.settings import Settings

# udfs: our own Flink functions, built from jvm/udfs/src; registry: Apicurio Registry, unpacked from its zip.
MODULES = ("kafka", "flink", "registry", "udfs")
# Java agents a module copies beside its lib/ (never on a classpath): jvm/<module>/target/agent.
AGENTS = {"kafka": "jmx_prometheus_javaagent"}
# Modules whose lib/ is an unpacked archive: cleared whole before a rebuild, so the unpack's marker goes
# with it and the archive is unpacked again.
UNPACKED = ("registry",)
# Touched after every successful build: copy-dependencies keeps the jars' original mtimes and leaves
# an unchanged lib/ untouched, so neither says when Maven last ran.
_STAMP = ".marketpipe-built"
_MVN_TIMEOUT_S = 1800


def lib_dir(settings: Settings, module: str) -> Path:
    """``jvm/<module>/target/lib``, where ``mvn package`` copies that module's runtime jars."""
    return settings.jvm_dir / module / "target" / "lib"


def ensure_jars(settings: Settings) -> None:
    """Build the jars with Maven unless every module's ``lib/`` is present and newer than the POMs."""
    stale = [m for m in MODULES if not _fresh(settings, m)]
    if not stale:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InstallError(
            "Maven (mvn) is not on PATH; it is needed once to fetch the Kafka and Flink jars "
            f"({', '.join(str(lib_dir(settings, m)) for m in stale)} missing or out of date). "
            "Install it (apt-get install -y maven) and run `marketpipe stack up` again."
        )
    for module in stale:
        if module in UNPACKED:
            shutil.rmtree(lib_dir(settings, module), ignore_errors=True)
            continue
        # copy-dependencies never deletes, so a version bump would leave both versions on the classpath.
        for old in (*lib_dir(settings, module).glob("*.jar"), *_agent_dir(settings, module).glob("*.jar")):
            old.unlink()
    pom = settings.jvm_dir / "pom.xml"
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(pom), "package"],
        capture_output=True,
        text=True,
        timeout=_MVN_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise InstallError(f"mvn -f {pom} package failed (exit {proc.returncode}):\n{tail}")
    for module in MODULES:
        if not _jars(lib_dir(settings, module)):
            raise InstallError(f"mvn package succeeded but left no jars in {lib_dir(settings, module)}")
        if module in AGENTS and not _jars(_agent_dir(settings, module)):
            raise InstallError(f"mvn package succeeded but left no agent jar in {_agent_dir(settings, module)}")
        (lib_dir(settings, module).parent / _STAMP).touch()


def kafka_classpath(settings: Settings) -> str:
    """``java -cp`` value for the Kafka broker and its tools (every jar of the kafka module)."""
    jars = _jars(lib_dir(settings, "kafka"))
    if not jars:
        raise InstallError(f"no Kafka jars in {lib_dir(settings, 'kafka')}; run ensure_jars() first")
    return os.pathsep.join(str(j) for j in jars)


def kafka_jmx_agent(settings: Settings) -> Path:
    """The Prometheus JMX exporter jar the broker loads as ``-javaagent:`` when monitoring is on."""
    jars = [j for j in _jars(_agent_dir(settings, "kafka")) if j.name.startswith(AGENTS["kafka"])]
    if not jars:
        raise InstallError(f"no JMX exporter agent in {_agent_dir(settings, 'kafka')}; run ensure_jars() first")
    return jars[-1]


def registry_jar(settings: Settings) -> Path:
    """The Apicurio Registry runner jar (``java -jar``; its dependencies sit in ``lib/`` beside it)."""
    jars = [j for j in _jars(lib_dir(settings, "registry")) if j.name.endswith("-runner.jar")]
    if not jars:
        raise InstallError(
            f"no Apicurio Registry runner jar in {lib_dir(settings, 'registry')}; run ensure_jars() first"
        )
    return jars[-1]


def flink_connector_jars(settings: Settings) -> list[Path]:
    """Connector jars to add to the Flink distribution's ``lib/``.

    ``slf4j-api`` is left out: flink-dist already ships it, and two copies make SLF4J pick a
    binding at random.
    """
    jars = [j for j in _jars(lib_dir(settings, "flink")) if not j.name.startswith("slf4j-api-")]
    if not jars:
        raise InstallError(
            f"no Flink connector jars in {lib_dir(settings, 'flink')}; run ensure_jars() first"
        )
    return jars


def _agent_dir(settings: Settings, module: str) -> Path:
    return settings.jvm_dir / module / "target" / "agent"


def _jars(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jar")) if directory.is_dir() else []


def _fresh(settings: Settings, module: str) -> bool:
    lib = lib_dir(settings, module)
    if not _jars(lib) or (module in AGENTS and not _jars(_agent_dir(settings, module))):
        return False
    stamp = lib.parent / _STAMP
    built = max(lib.stat().st_mtime, stamp.stat().st_mtime if stamp.exists() else 0.0)
    inputs = [settings.jvm_dir / "pom.xml", settings.jvm_dir / module / "pom.xml"]
    inputs += sorted((settings.jvm_dir / module / "src").rglob("*.java"))  # our own code (udfs)
    return all(built >= p.stat().st_mtime for p in inputs if p.exists())
