"""The monitoring configuration: rendered files pass Prometheus's and Alertmanager's own checkers, and
the alert rules fire (and stay silent) as ``promtool test rules`` cases say.

Real ``promtool`` and ``amtool`` (Debian's prometheus and prometheus-alertmanager packages), no mocks.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from marketpipe.monitoring import config
from marketpipe.settings import Settings

RULE_TESTS = Path(__file__).with_name("monitoring_rules_test.yml")
ALERTS = {
    "MarketpipeTargetDown",
    "MarketpipeJobNotRunning",
    "MarketpipeCheckpointsFailing",
    "MarketpipeConsumerLagGrowing",
    "MarketpipeDeadLetterRateHigh",
    "MarketpipeNoBars",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make system-deps` installs Debian's prometheus packages")
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "alert_no_bar_minutes": 5,
        "alert_dead_letter_per_s": 5.0,
        "alert_consumer_lag_floor": 10_000,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def test_rendered_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """``promtool check config`` accepts prometheus.yml (it also checks the rule file it names)."""
    promtool = _tool("promtool")
    paths = config.write(_settings(tmp_path))
    proc = _run(promtool, "check", "config", str(paths.config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 1 rule files found" in proc.stdout + proc.stderr


def test_rendered_rules_pass_promtool(tmp_path: Path) -> None:
    """``promtool check rules``: six valid rules."""
    promtool = _tool("promtool")
    paths = config.write(_settings(tmp_path))
    proc = _run(promtool, "check", "rules", str(paths.rules))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 6 rules found" in proc.stdout


def test_prometheus_config_follows_the_settings(tmp_path: Path) -> None:
    """Interval, the contract's scrape jobs on the configured ports, the feeds' file discovery, alerting."""
    s = _settings(tmp_path, scrape_interval_s=2.5, prometheus_port=41001, alertmanager_port=41002,
                  metrics_port=41003, postgres_exporter_port=41004, kafka_jmx_exporter_port=41005)
    paths = config.write(s)
    cfg = yaml.safe_load(paths.config.read_text())
    assert cfg["global"]["scrape_interval"] == "2500ms"
    assert cfg["global"]["evaluation_interval"] == "2500ms"
    jobs = {job["job_name"]: job for job in cfg["scrape_configs"]}
    assert set(jobs) == {"prometheus", "alertmanager", "marketpipe", "postgres", "kafka", "feeds"}
    targets = {name: job["static_configs"][0]["targets"] for name, job in jobs.items() if "static_configs" in job}
    assert targets == {
        "prometheus": ["127.0.0.1:41001"], "alertmanager": ["127.0.0.1:41002"], "marketpipe": ["127.0.0.1:41003"],
        "postgres": ["127.0.0.1:41004"], "kafka": ["127.0.0.1:41005"],
    }
    sd = jobs["feeds"]["file_sd_configs"][0]
    assert sd["files"] == [f"{s.run_dir}/prometheus/targets/*.json"]
    assert paths.targets.is_dir()
    assert jobs["marketpipe"]["honor_labels"] is True  # `job` names the Flink job on its series
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:41002"]
    assert cfg["rule_files"] == [str(paths.rules)]


def test_other_targets_render_for_other_deployments(tmp_path: Path) -> None:
    """docker-compose style: jobs on their own hosts; a misspelt job is an error, not a silent default."""
    s = _settings(tmp_path)
    text = config.render_prometheus(
        s, rules_file="/etc/prometheus/rules.yml", feeds_sd_dir="/targets", targets={"kafka": "kafka:9404"},
    )
    cfg = yaml.safe_load(text)
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"] if "static_configs" in j}
    assert targets["kafka"] == ["kafka:9404"]
    assert targets["postgres"] == [f"127.0.0.1:{s.postgres_exporter_port}"]
    assert cfg["rule_files"] == ["/etc/prometheus/rules.yml"]
    with pytest.raises(ValueError, match="no scrape job kafak"):
        config.render_prometheus(s, rules_file="r", feeds_sd_dir="t", targets={"kafak": "kafka:9404"})


def test_rules_have_the_contract_names_labels_and_thresholds(tmp_path: Path) -> None:
    """The six alerts, each with a severity and summary/description; thresholds come from the settings."""
    s = _settings(tmp_path, alert_no_bar_minutes=7, alert_dead_letter_per_s=2.5, alert_consumer_lag_floor=1234)
    rules = {r["alert"]: r for g in yaml.safe_load(config.render_rules(s))["groups"] for r in g["rules"]}
    assert set(rules) == ALERTS
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description"} <= set(rule["annotations"])
    assert "> 420" in rules["MarketpipeNoBars"]["expr"]
    assert "> 2.5" in rules["MarketpipeDeadLetterRateHigh"]["expr"]
    assert "> 1234" in rules["MarketpipeConsumerLagGrowing"]["expr"]
    assert rules["MarketpipeJobNotRunning"]["for"] == "30s"


def _rule_test_dir(tmp_path: Path, settings: Settings) -> Path:
    """The rendered rules and the promtool cases side by side (the cases name ``rules.yml``)."""
    (tmp_path / "rules.yml").write_text(config.render_rules(settings))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path / RULE_TESTS.name


def test_alert_rules_fire_as_promtool_cases_say(tmp_path: Path) -> None:
    """``promtool test rules``: each of the six alerts fires on its fault and not on healthy series."""
    promtool = _tool("promtool")
    cases = _rule_test_dir(tmp_path, _settings(tmp_path))
    proc = _run(promtool, "test", "rules", str(cases))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    covered = {c["alertname"] for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in t["alert_rule_test"]}
    assert covered == ALERTS


def test_rule_cases_see_a_changed_threshold(tmp_path: Path) -> None:
    """The cases are not vacuous: at 50 dead letters/s the 40/s burst no longer fires, and promtool says so."""
    promtool = _tool("promtool")
    cases = _rule_test_dir(tmp_path, _settings(tmp_path, alert_dead_letter_per_s=50.0))
    proc = _run(promtool, "test", "rules", str(cases))
    assert proc.returncode != 0
    assert "alertname: MarketpipeDeadLetterRateHigh" in proc.stdout + proc.stderr
    assert "alertname: MarketpipeNoBars" not in proc.stdout + proc.stderr


def test_alertmanager_config_passes_amtool() -> None:
    """``amtool check-config`` accepts the shipped alertmanager.yml."""
    amtool = _tool("amtool")
    proc = _run(amtool, "check-config", str(config.ALERTMANAGER_CONFIG))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kafka_jmx_config_is_small_and_scoped() -> None:
    """The JMX exporter reads only the MBeans its rules name (a full Kafka scrape is thousands of series)."""
    cfg = yaml.safe_load(config.KAFKA_JMX_CONFIG.read_text())
    assert cfg["includeObjectNames"]
    assert all(r["pattern"].startswith("kafka.") for r in cfg["rules"])
    assert len(cfg["rules"]) <= 10


def test_duration() -> None:
    """Whole seconds stay seconds, fractions become milliseconds, zero is refused."""
    assert config.duration(5) == "5s"
    assert config.duration(0.25) == "250ms"
    with pytest.raises(ValueError):
        config.duration(0)


def test_render_for_another_deployment(tmp_path: Path) -> None:
    """``marketpipe metrics render`` (docker-compose's one-shot): the same templates with other
    addresses and a static feed target; promtool accepts the result."""
    promtool = _tool("promtool")
    out = tmp_path / "rendered"
    written = config.render_to(
        _settings(tmp_path), out, targets={"kafka": "kafka:9404", "postgres": "postgres-exporter:9187"},
        feeds={"synthetic": "collector:9464"},
    )
    assert {p.name for p in written} == {"prometheus.yml", "rules.yml", "alertmanager.yml", "synthetic.json"}
    scrape = {job["job_name"]: job for job in yaml.safe_load((out / "prometheus.yml").read_text())["scrape_configs"]}
    assert scrape["kafka"]["static_configs"][0]["targets"] == ["kafka:9404"]
    assert scrape["postgres"]["static_configs"][0]["targets"] == ["postgres-exporter:9187"]
    assert scrape["marketpipe"]["static_configs"][0]["targets"] == ["127.0.0.1:19400"]  # not overridden
    assert "collector:9464" in (out / "feeds" / "synthetic.json").read_text()
    proc = _run(promtool, "check", "config", str(out / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with pytest.raises(ValueError, match="no scrape job"):
        config.render_to(_settings(tmp_path), out, targets={"grafana": "grafana:3000"})
