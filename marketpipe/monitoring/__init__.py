"""Monitoring: Prometheus, Alertmanager and the exporters of the local stack, and their configuration."""
