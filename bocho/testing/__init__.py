"""Start real bocho (or redis-server) processes for tests: yours and ours."""

from bocho.testing.server import ServerProcess, free_port

__all__ = ["ServerProcess", "free_port"]
