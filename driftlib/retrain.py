"""Compatibility for saved models: pickles made before the move into `driftlib.models` reference
`driftlib.retrain.as_str`. Do not add code here; tests load a committed artifact through this path."""
from driftlib.models.estimators import as_str  # noqa: F401
