"""The model service: FastAPI app, request schema, hot-reloading model holder, micro-batching, instruments, client."""
