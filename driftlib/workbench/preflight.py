"""Check every component a params file names before anything runs, so a typo is exit 2 in a second,
not a failed notebook 01 minutes later. Imports the registries, which is why it is not in `config`."""
from __future__ import annotations

from driftlib.config import Params
from driftlib.core.names import Names


def registries() -> dict[str, Names]:
    """Params field -> the names it may take (from the registries the components use)."""
    from driftlib.concept.estimate import CALIBRATORS
    from driftlib.concept.onset import DETECTORS
    from driftlib.concept.shift import LEARNERS
    from driftlib.drift.stats.methods import STAT_TESTS
    from driftlib.inference_log.sink import SINKS
    from driftlib.models.estimators import ESTIMATORS

    return {names.field: names for names in (ESTIMATORS, LEARNERS, CALIBRATORS, DETECTORS, SINKS, STAT_TESTS)}


def check_components(params: Params) -> None:
    """ConfigError (exit 2) naming the file, the field and the choices for the first unknown name."""
    names = registries()
    chosen = [("model.estimator", params.model.estimator), ("concept.learner", params.concept.learner),
              ("concept.calibration", params.concept.calibration), ("log.sink", params.log.sink),
              *(("concept.detectors", d) for d in params.concept.detectors),
              *((f"drift.columns.{col}.method", t.method) for col, t in params.drift.columns.items() if t.method)]
    for field, value in chosen:
        registry = names["drift.columns.method" if field.startswith("drift.columns.") else field]
        registry.check(value, field, source=params.source_file or "<params>")
