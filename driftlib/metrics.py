"""The metric catalogue where `../shared/DESIGN.md` says it is (`driftlib.metrics`).

It lives in `driftlib.monitoring.textfile` since the layout by concern; this module keeps the documented
import path working for scripts and acceptance checks. Do not add code here."""
from driftlib.monitoring.textfile import (CATALOGUE, RUN_METRICS, MetricSpec, exposed_names,  # noqa: F401
                                          run_samples, service_metric, write_run_metrics)
