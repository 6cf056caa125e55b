"""Data drift: the detector and its result, the stat tests (`stats/`), data quality, Evidently I/O."""
