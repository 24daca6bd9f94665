"""TLS and SASL to an external Kafka cluster, rendered from the settings for each client family.

The one owner of ``MARKETPIPE_KAFKA_SECURITY_PROTOCOL`` and its companions (docs/security.md):

* :func:`librdkafka_config` — merged into every confluent-kafka Producer, Consumer and AdminClient;
* :func:`flink_table_options` — the ``{{kafka_security_options}}`` lines of every Kafka table in
  ``flink_sql/`` (the Java client's ``properties.*`` options).

PLAINTEXT (the default, and the local stack's loopback broker) renders nothing, so the clients and the
SQL stay exactly as they are without these settings. Both renderings hold the SASL password in clear
text: hand them to a client, never log them.
"""

from __future__ import annotations

from marketpipe.exceptions import ConfigError
from marketpipe.settings import Settings

SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
# flink-sql-connector-kafka relocates the Kafka client, JAAS login modules included, under this package;
# sasl.jaas.config names a class, so it must name the relocated one (Flink's Kafka SQL connector docs,
# "Security"). A deployment with the unshaded flink-connector-kafka would use "org.apache.kafka".
FLINK_KAFKA_PACKAGE = "org.apache.flink.kafka.shaded.org.apache.kafka"
_LOGIN_MODULES = {
    "PLAIN": "common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "common.security.scram.ScramLoginModule",
}
# Kafka's JAAS parser (java.io.StreamTokenizer) reads C-style escapes inside a quoted value.
_JAAS_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _checked_sasl(settings: Settings) -> tuple[str, str, str] | None:
    """``(mechanism, username, password)`` when the protocol uses SASL, else None.

    Raises :class:`ConfigError` for a combination that would silently connect without what was asked:
    SASL without its credentials, credentials or a CA file the protocol would ignore.
    """
    protocol = settings.kafka_security_protocol
    if settings.kafka_ssl_ca_file is not None and protocol not in TLS_PROTOCOLS:
        raise ConfigError(
            f"MARKETPIPE_KAFKA_SSL_CA_FILE is set, but MARKETPIPE_KAFKA_SECURITY_PROTOCOL={protocol} "
            "uses no TLS (SSL or SASL_SSL)"
        )
    mechanism, username = settings.kafka_sasl_mechanism, settings.kafka_sasl_username
    password = settings.kafka_sasl_password
    given = {
        "MARKETPIPE_KAFKA_SASL_MECHANISM": mechanism is not None,
        "MARKETPIPE_KAFKA_SASL_USERNAME": username is not None,
        "MARKETPIPE_KAFKA_SASL_PASSWORD": password is not None,
    }
    if protocol not in SASL_PROTOCOLS:
        if any(given.values()):
            names = ", ".join(name for name, is_set in given.items() if is_set)
            raise ConfigError(
                f"{names} set, but MARKETPIPE_KAFKA_SECURITY_PROTOCOL={protocol} uses no SASL "
                "(SASL_PLAINTEXT or SASL_SSL)"
            )
        return None
    if mechanism is None or username is None or password is None:
        names = ", ".join(name for name, is_set in given.items() if not is_set)
        raise ConfigError(f"MARKETPIPE_KAFKA_SECURITY_PROTOCOL={protocol} needs {names}")
    return mechanism, username, password.get_secret_value()


def librdkafka_config(settings: Settings) -> dict[str, str]:
    """confluent-kafka (librdkafka) security properties; empty for PLAINTEXT. Holds the password."""
    sasl = _checked_sasl(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    conf = {"security.protocol": protocol.lower()}
    if sasl is not None:
        conf["sasl.mechanisms"], conf["sasl.username"], conf["sasl.password"] = sasl
    if settings.kafka_ssl_ca_file is not None:
        conf["ssl.ca.location"] = str(settings.kafka_ssl_ca_file)
    return conf


def jaas_config(mechanism: str, username: str, password: str) -> str:
    """The Java client's ``sasl.jaas.config`` for a SASL mechanism and its credentials."""
    return (
        f"{FLINK_KAFKA_PACKAGE}.{_LOGIN_MODULES[mechanism]} required "
        f'username="{username.translate(_JAAS_ESCAPES)}" password="{password.translate(_JAAS_ESCAPES)}";'
    )


def java_properties(settings: Settings) -> dict[str, str]:
    """Kafka Java client security properties (Flink's ``properties.*``); empty for PLAINTEXT."""
    sasl = _checked_sasl(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    props: dict[str, str] = {"security.protocol": protocol}
    if sasl is not None:
        props["sasl.mechanism"] = sasl[0]
        props["sasl.jaas.config"] = jaas_config(*sasl)
    if settings.kafka_ssl_ca_file is not None:
        # A PEM truststore needs no conversion to JKS (Kafka clients >= 2.7, KIP-651).
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = str(settings.kafka_ssl_ca_file)
    return props


def flink_table_options(settings: Settings, indent: str = "    ") -> str:
    """``{{kafka_security_options}}``: one ``'properties.<name>' = '<value>',`` line per property.

    Every line ends with a comma, so the placeholder sits on its own line right after
    ``'properties.bootstrap.servers'``; the first line takes the placeholder's own indentation, the
    others ``indent``. Empty for PLAINTEXT.
    """
    lines = [
        f"'properties.{name}' = '{_sql_string(value)}',"
        for name, value in java_properties(settings).items()
    ]
    return f"\n{indent}".join(lines)


def _sql_string(value: str) -> str:
    """Body of a Flink SQL string literal (quotes doubled)."""
    return value.replace("'", "''")
