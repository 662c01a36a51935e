"""bocho: a Redis 7.0-compatible data server written in Python."""

__version__ = "0.1.0"
# The Redis version we speak: clients and test suites gate features on it.
REDIS_VERSION = "7.0.15"
