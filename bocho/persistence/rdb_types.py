"""RDB codecs of lists, hashes, sets and sorted sets (every encoding Redis 7.0 reads)."""
