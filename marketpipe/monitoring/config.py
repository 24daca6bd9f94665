"""The configuration files of the monitoring processes, rendered from the settings.

The templates ship beside this module (``prometheus.yml.tmpl``, ``rules.yml.tmpl``) with
``@{name}`` placeholders, so a deployment with other addresses (docker-compose: one host per
service) renders the same files with its own ``targets``. ``alertmanager.yml`` and
``kafka_jmx.yml`` need no values and are used as they are.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from marketpipe.settings import Settings

TEMPLATE_DIR = Path(__file__).resolve().parent
PROMETHEUS_TEMPLATE = TEMPLATE_DIR / "prometheus.yml.tmpl"
RULES_TEMPLATE = TEMPLATE_DIR / "rules.yml.tmpl"
ALERTMANAGER_CONFIG = TEMPLATE_DIR / "alertmanager.yml"
KAFKA_JMX_CONFIG = TEMPLATE_DIR / "kafka_jmx.yml"

# Scrape jobs (the `job` label), each with the setting of its port on the local stack; `feeds`
# comes from file-based discovery instead.
SCRAPE_JOBS = {
    "prometheus": "prometheus_port",
    "alertmanager": "alertmanager_port",
    "marketpipe": "metrics_port",
    "postgres": "postgres_exporter_port",
    "kafka": "kafka_jmx_exporter_port",
}
FEEDS_JOB = "feeds"
# Prometheus's own default; a scrape may never take longer than the interval either.
_MAX_SCRAPE_TIMEOUT_S = 10.0


class _Template(string.Template):
    # `$` is taken: Prometheus annotations use `{{ $labels.x }}` and `$value`.
    delimiter = "@"


@dataclass(frozen=True)
class PrometheusFiles:
    """Where the rendered configuration of one stack lives."""

    home: Path  # <data_dir>/prometheus
    config: Path  # prometheus.yml
    rules: Path  # rules.yml
    tsdb: Path  # the time-series database
    targets: Path  # file_sd directory of the feeds (<run_dir>/prometheus/targets)


def files(settings: Settings) -> PrometheusFiles:
    """The paths of this stack's Prometheus files (nothing is written)."""
    home = settings.data_dir / "prometheus"
    return PrometheusFiles(
        home=home,
        config=home / "prometheus.yml",
        rules=home / "rules.yml",
        tsdb=home / "data",
        targets=feed_targets_dir(settings),
    )


def feed_targets_dir(settings: Settings) -> Path:
    """Where each running feed registers its /metrics address (``feed-<pid>.json``, file_sd format)."""
    return settings.run_dir / "prometheus" / "targets"


def local_targets(settings: Settings) -> dict[str, str]:
    """``host:port`` of every static scrape job on the local stack (all on ``settings.host``)."""
    return {job: f"{settings.host}:{getattr(settings, port)}" for job, port in SCRAPE_JOBS.items()}


def render_prometheus(
    settings: Settings,
    *,
    rules_file: Path | str,
    feeds_sd_dir: Path | str,
    targets: Mapping[str, str] | None = None,
) -> str:
    """``prometheus.yml``: scrape interval from the settings, one job per exporter, the feeds by
    file discovery, alerts to the Alertmanager. ``targets`` overrides the local addresses per job."""
    addresses = {**local_targets(settings), **(targets or {})}
    unknown = set(addresses) - set(SCRAPE_JOBS)
    if unknown:
        raise ValueError(f"no scrape job {', '.join(sorted(unknown))}; jobs are {', '.join(SCRAPE_JOBS)}")
    interval = settings.scrape_interval_s
    values = {f"{job}_target": address for job, address in addresses.items()}
    values |= {
        "scrape_interval": duration(interval),
        "scrape_timeout": duration(min(interval, _MAX_SCRAPE_TIMEOUT_S)),
        "rules_file": str(rules_file),
        "feeds_sd_dir": str(feeds_sd_dir),
    }
    return _Template(PROMETHEUS_TEMPLATE.read_text()).substitute(values)


def render_rules(settings: Settings) -> str:
    """``rules.yml``: the six marketpipe alerts with the thresholds of the settings."""
    return _Template(RULES_TEMPLATE.read_text()).substitute(
        no_bar_minutes=settings.alert_no_bar_minutes,
        no_bar_seconds=settings.alert_no_bar_minutes * 60,
        dead_letter_per_s=_number(settings.alert_dead_letter_per_s),
        consumer_lag_floor=settings.alert_consumer_lag_floor,
    )


def write(settings: Settings) -> PrometheusFiles:
    """Render ``prometheus.yml`` and ``rules.yml`` into ``<data_dir>/prometheus`` (on every start,
    so they follow the settings) and create the feeds' target directory."""
    paths = files(settings)
    for d in (paths.home, paths.tsdb, paths.targets):
        d.mkdir(parents=True, exist_ok=True)
    paths.rules.write_text(render_rules(settings))
    paths.config.write_text(render_prometheus(settings, rules_file=paths.rules, feeds_sd_dir=paths.targets))
    return paths


def render_to(
    settings: Settings,
    out: Path,
    *,
    targets: Mapping[str, str] | None = None,
    feeds: Mapping[str, str] | None = None,
    mount: Path | None = None,
) -> list[Path]:
    """Write ``prometheus.yml``, ``rules.yml``, ``alertmanager.yml`` and the feeds' discovery directory
    into ``out`` for a deployment with other addresses (``marketpipe metrics render``; docker-compose).

    ``targets`` maps scrape jobs to ``host:port``; ``feeds`` maps a feed name to the ``host:port`` of a
    long-running feed (a static target file, ``feeds/<name>.json``); ``mount`` is where Prometheus sees
    ``out`` (the config names its rules and feeds by that path). Returns the files written.
    """
    seen = mount or out
    sd = out / "feeds"
    sd.mkdir(parents=True, exist_ok=True)
    written = [out / "rules.yml", out / "prometheus.yml", out / "alertmanager.yml"]
    written[0].write_text(render_rules(settings))
    written[1].write_text(render_prometheus(
        settings, rules_file=seen / "rules.yml", feeds_sd_dir=seen / "feeds", targets=targets
    ))
    written[2].write_text(ALERTMANAGER_CONFIG.read_text())
    for name, address in (feeds or {}).items():
        path = sd / f"{name}.json"
        path.write_text(json.dumps([{"targets": [address], "labels": {"feed": name}}]) + "\n")
        written.append(path)
    return written


def duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds as ``5s``, anything finer in milliseconds."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"a duration must be positive, not {seconds}s")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
