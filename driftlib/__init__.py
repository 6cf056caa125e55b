"""driftlib: notebooks and helpers for monitoring ML model drift."""
__version__ = "0.1.0"
