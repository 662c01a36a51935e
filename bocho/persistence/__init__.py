"""Persistence: the RDB format (rdbio.py primitives, listpack.py, rdb.py files and DUMP
payloads, one codec module per type family) and, on top, snapshots by a forked child."""
