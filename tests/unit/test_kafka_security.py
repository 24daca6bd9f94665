"""TLS and SASL to an external Kafka: the settings, their rendering for Flink SQL and librdkafka, and
that every Kafka client and every Kafka table gets them. No broker: the rendered text and dicts are
checked, and the confluent-kafka constructors are replaced by recorders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from marketpipe import demo
from marketpipe.exceptions import ConfigError
from marketpipe.feeds import producer as producer_module
from marketpipe.jobs.sql import SQL_DIR, Statement, load_statements, template_variables
from marketpipe.kafka_security import (
    FLINK_KAFKA_PACKAGE,
    flink_table_options,
    java_properties,
    librdkafka_config,
)
from marketpipe.settings import Settings, settings_env
from marketpipe.stack import kafka as kafka_module

CA = Path("/etc/marketpipe/kafka-ca.pem")
KAFKA_TABLE = re.compile(r"'connector'\s*=\s*'kafka'")


def _settings(**kwargs: Any) -> Settings:
    return Settings(_env_file=None, **kwargs)


def _scram(password: str = "s3cret", **kwargs: Any) -> Settings:
    return _settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="marketpipe",
        kafka_sasl_password=SecretStr(password),
        kafka_ssl_ca_file=CA,
        **kwargs,
    )


# --- rendering ---------------------------------------------------------------------------------


def test_plaintext_renders_nothing() -> None:
    settings = _settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert librdkafka_config(settings) == {}
    assert java_properties(settings) == {}
    assert flink_table_options(settings) == ""
    assert template_variables(settings)["kafka_security_options"] == ""


def test_sasl_ssl_scram_java_options() -> None:
    module = f"{FLINK_KAFKA_PACKAGE}.common.security.scram.ScramLoginModule"
    jaas = f'{module} required username="marketpipe" password="s3cret";'
    assert java_properties(_scram()) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": jaas,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(CA),
    }
    assert flink_table_options(_scram()).splitlines() == [
        "'properties.security.protocol' = 'SASL_SSL',",
        "    'properties.sasl.mechanism' = 'SCRAM-SHA-512',",
        f"    'properties.sasl.jaas.config' = '{jaas}',",
        "    'properties.ssl.truststore.type' = 'PEM',",
        f"    'properties.ssl.truststore.location' = '{CA}',",
    ]


def test_sasl_ssl_scram_librdkafka_config() -> None:
    assert librdkafka_config(_scram()) == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "marketpipe",
        "sasl.password": "s3cret",
        "ssl.ca.location": str(CA),
    }


def test_sasl_plaintext_plain_uses_the_plain_login_module() -> None:
    settings = _settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u", kafka_sasl_password=SecretStr("p"),
    )
    props = java_properties(settings)
    assert props["sasl.jaas.config"] == (
        f'{FLINK_KAFKA_PACKAGE}.common.security.plain.PlainLoginModule required username="u" password="p";'
    )
    assert "ssl.truststore.location" not in props
    assert librdkafka_config(settings) == {
        "security.protocol": "sasl_plaintext", "sasl.mechanisms": "PLAIN", "sasl.username": "u",
        "sasl.password": "p",
    }


def test_ssl_without_sasl() -> None:
    settings = _settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=CA)
    assert java_properties(settings) == {
        "security.protocol": "SSL", "ssl.truststore.type": "PEM", "ssl.truststore.location": str(CA),
    }
    assert librdkafka_config(settings) == {"security.protocol": "ssl", "ssl.ca.location": str(CA)}
    # No CA file: the JVM's and librdkafka's default trust stores.
    assert java_properties(_settings(kafka_security_protocol="SSL")) == {"security.protocol": "SSL"}


def test_quotes_and_backslashes_in_the_password_are_escaped() -> None:
    password = "a\"b'c\\d"
    settings = _scram(password)
    jaas = java_properties(settings)["sasl.jaas.config"]
    # JAAS: backslash and double quote escaped inside the quoted value (java.io.StreamTokenizer rules).
    assert jaas.endswith(' password="a\\"b\'c\\\\d";')
    # SQL: the single quote doubled inside the option's string literal.
    line = next(x for x in flink_table_options(settings).splitlines() if "sasl.jaas.config" in x)
    assert "password=\"a\\\"b''c\\\\d\";'," in line
    # librdkafka takes the value as it is.
    assert librdkafka_config(settings)["sasl.password"] == password


def test_a_quote_in_the_password_does_not_break_the_statement() -> None:
    statements = load_statements(_scram("x';DROP TABLE t;--"), "indicators")
    plain = load_statements(_settings(), "indicators")
    assert len(statements) == len(plain)
    assert not any("DROP TABLE" in s.sql and not KAFKA_TABLE.search(s.sql) for s in statements)


def test_the_password_is_secret() -> None:
    settings = _scram("hunter2")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.kafka_sasl_password)
    # A child process (the Flink client) gets it back through the environment.
    assert settings_env(settings)["MARKETPIPE_KAFKA_SASL_PASSWORD"] == "hunter2"


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("kafka_security_protocol", "TLS"),
    ("kafka_security_protocol", "sasl_ssl"),
    ("kafka_sasl_mechanism", "GSSAPI"),
    ("kafka_sasl_mechanism", "OAUTHBEARER"),
    ("kafka_sasl_mechanism", "SCRAM-SHA-1"),
])
def test_invalid_protocol_or_mechanism_is_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        _settings(**{field: value})


@pytest.mark.parametrize("kwargs, missing", [
    ({"kafka_security_protocol": "SASL_SSL"}, "MECHANISM"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u"},
     "PASSWORD"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
      "kafka_sasl_password": SecretStr("p")}, "USERNAME"),
    ({"kafka_sasl_mechanism": "PLAIN"}, "MECHANISM"),  # SASL settings without a SASL protocol
    ({"kafka_security_protocol": "SSL", "kafka_sasl_username": "u"}, "USERNAME"),
    ({"kafka_ssl_ca_file": CA}, "SSL_CA_FILE"),  # a CA file without TLS
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
      "kafka_sasl_username": "u", "kafka_sasl_password": SecretStr("p"), "kafka_ssl_ca_file": CA},
     "SSL_CA_FILE"),
])
def test_inconsistent_settings_are_a_config_error(kwargs: dict[str, Any], missing: str) -> None:
    settings = _settings(**kwargs)
    for render in (librdkafka_config, java_properties, template_variables):
        with pytest.raises(ConfigError, match=f"MARKETPIPE_KAFKA_[A-Z_]*{missing}"):
            render(settings)


def test_empty_variables_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-compose passes `${MARKETPIPE_KAFKA_SASL_MECHANISM:-}` etc. as empty strings.
    for name in ("SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD", "SSL_CA_FILE"):
        monkeypatch.setenv(f"MARKETPIPE_KAFKA_{name}", "")
    monkeypatch.setenv("MARKETPIPE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    settings = _settings()
    assert settings.kafka_sasl_mechanism is None
    assert settings.kafka_sasl_username is None
    assert settings.kafka_sasl_password is None
    assert settings.kafka_ssl_ca_file is None
    assert librdkafka_config(settings) == {}


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETPIPE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MARKETPIPE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("MARKETPIPE_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("MARKETPIPE_KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("MARKETPIPE_KAFKA_SSL_CA_FILE", str(CA))
    settings = _settings()
    assert settings.kafka_ssl_ca_file == CA
    assert librdkafka_config(settings)["sasl.mechanisms"] == "SCRAM-SHA-256"


# --- every Kafka table -------------------------------------------------------------------------


def _kafka_tables(statements: list[Statement]) -> list[Statement]:
    return [s for s in statements if s.bridge is None and KAFKA_TABLE.search(s.sql)]


@pytest.mark.parametrize("job, tables", [("bars", 5), ("indicators", 2)])
def test_every_kafka_table_gets_the_security_options(job: str, tables: int) -> None:
    settings = _scram()
    kafka_tables = _kafka_tables(load_statements(settings, job))
    assert len(kafka_tables) == tables
    for statement in kafka_tables:
        for name, value in java_properties(settings).items():
            literal = value.replace("'", "''")
            assert f"'properties.{name}' = '{literal}'," in statement.sql, (statement.file, name)
    # Nothing else gets them (JDBC sinks, Iceberg tables, views).
    others = [s for s in load_statements(settings, job) if s not in kafka_tables]
    assert not any("properties.security.protocol" in s.sql for s in others)


def test_every_kafka_table_takes_the_shared_source_or_sink_options() -> None:
    """The security options are in two places only, the options every Kafka source and every Kafka sink
    share (marketpipe/jobs/sql.py); no file of flink_sql/ declares a Kafka table without them."""
    shared = {"{{kafka_source_options}}", "{{kafka_sink_options}}"}
    files = {p.name for p in SQL_DIR.rglob("*.sql") if any(v in p.read_text() for v in shared)}
    assert files == {"10_ticks_source.sql", "14_bars_topics_lake.sql", "20_bars_source.sql", "24_signals_topic.sql"}
    for path in SQL_DIR.rglob("*.sql"):
        text = path.read_text()
        assert "{{kafka_security_options}}" not in text and not KAFKA_TABLE.search(text), path.name
    for job, tables in (("bars", 5), ("indicators", 2)):
        kafka_tables = _kafka_tables(load_statements(_settings(), job))
        assert len(kafka_tables) == tables
        for statement in kafka_tables:
            assert statement.sql.count("'connector' = 'kafka'") == 1, statement.file


@pytest.mark.parametrize("job", ["bars", "indicators", "backfill", "backfill-ticks"])
def test_plaintext_kafka_tables_have_no_security_option(job: str) -> None:
    for statement in _kafka_tables(load_statements(_settings(), job)):
        assert "security" not in statement.sql and "sasl" not in statement.sql, statement.file


# --- every confluent-kafka client --------------------------------------------------------------


class _Recorded(Exception):
    """Raised by the recording constructors once they have the config."""


def _recorder(seen: list[dict[str, Any]]) -> Any:
    def construct(conf: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        seen.append(dict(conf))
        raise _Recorded

    return construct


def _assert_secured(conf: dict[str, Any]) -> None:
    assert conf["bootstrap.servers"] == _scram().kafka_bootstrap
    for key, value in librdkafka_config(_scram()).items():
        assert conf[key] == value, key


def test_the_feed_producer_is_secured(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(producer_module, "Producer", _recorder(seen))
    with pytest.raises(_Recorded):
        producer_module.TickProducer(_scram())
    _assert_secured(seen[0])
    assert seen[0]["enable.idempotence"] is True  # the producer's own settings are kept


def test_the_admin_client_is_secured(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka_module, "AdminClient", _recorder(seen))
    with pytest.raises(_Recorded):
        kafka_module.KafkaService(_scram())._admin()
    _assert_secured(seen[0])


def test_the_demo_summary_consumer_is_secured(monkeypatch: pytest.MonkeyPatch) -> None:
    import confluent_kafka

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(confluent_kafka, "Consumer", _recorder(seen))
    with pytest.raises(_Recorded):
        demo.topic_counts(_scram())
    _assert_secured(seen[0])


def test_plaintext_clients_get_no_security_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(producer_module, "Producer", _recorder(seen))
    with pytest.raises(_Recorded):
        producer_module.TickProducer(_settings())
    assert not any(key.startswith(("security.", "sasl.", "ssl.")) for key in seen[0])
