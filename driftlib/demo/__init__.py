"""The flights demo: its data (flights2013.parquet) and the replay that builds a demo world."""
