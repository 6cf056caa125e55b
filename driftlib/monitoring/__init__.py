"""Monitoring: the Prometheus metric catalogue and textfile, generated alert rules and dashboard, Evidently workspace."""
