"""RDB codec of streams (listpack nodes, consumer groups)."""
