"""The data layer: reading tables and windows, feature typing, the reference profile."""
