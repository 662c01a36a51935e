"""Replication (replication.c): the shared state in state.py, the master side (SYNC,
PSYNC, the backlog feeding replicas) in master.py, the replica side (REPLICAOF, the
handshake, loading the master's RDB, applying its stream) in replica.py."""
