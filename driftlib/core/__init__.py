"""Contracts every other part relies on: errors, the clock, JSON values, the notebook table and result types."""
