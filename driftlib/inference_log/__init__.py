"""The inference log: the service's writer side (sinks) and the pipeline's reader side."""
