"""Argument documentation for COMMAND DOCS, written as each command's usage line and
turned into the argument maps Redis 7.0 replies with (redis-cli builds its hints and
`help <command>` from them).

Usage-line grammar: UPPERCASE words are tokens (a token right before an argument is that
argument's token, else a pure token), lowercase words are arguments, `[...]` is optional,
`(...)` groups, `a | b` inside a group is a choice, and `x [x ...]` marks x as repeatable."""

from __future__ import annotations

import re

USAGE: dict[str, str] = {
    # strings
    "append": "key value",
    "decr": "key", "decrby": "key decrement", "get": "key", "getdel": "key",
    "getex": "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | "
             "PXAT unix-time-milliseconds | PERSIST]",
    "getrange": "key start end", "getset": "key value", "incr": "key",
    "incrby": "key increment", "incrbyfloat": "key increment",
    "lcs": "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]",
    "mget": "key [key ...]", "mset": "key value [key value ...]",
    "msetnx": "key value [key value ...]", "psetex": "key milliseconds value",
    "set": "key value [NX | XX] [GET] [EX seconds | PX milliseconds | "
           "EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]",
    "setex": "key seconds value", "setnx": "key value", "setrange": "key offset value",
    "strlen": "key", "substr": "key start end",
    # bitmaps
    "bitcount": "key [start end [BYTE | BIT]]",
    "bitfield": "key [GET encoding offset] [SET encoding offset value] "
                "[INCRBY encoding offset increment] [OVERFLOW WRAP | SAT | FAIL]",
    "bitfield_ro": "key [GET encoding offset [GET encoding offset ...]]",
    "bitop": "operation destkey key [key ...]",
    "bitpos": "key bit [start [end [BYTE | BIT]]]",
    "getbit": "key offset", "setbit": "key offset value",
    # generic
    "copy": "source destination [DB destination-db] [REPLACE]",
    "del": "key [key ...]", "dump": "key", "exists": "key [key ...]",
    "expire": "key seconds [NX | XX | GT | LT]",
    "expireat": "key unix-time-seconds [NX | XX | GT | LT]", "expiretime": "key",
    "keys": "pattern",
    "migrate": "host port key destination-db timeout [COPY] [REPLACE] "
               "[AUTH password] [AUTH2 username password] [KEYS key [key ...]]",
    "move": "key db", "object|encoding": "key", "object|freq": "key",
    "object|idletime": "key", "object|refcount": "key", "persist": "key",
    "pexpire": "key milliseconds [NX | XX | GT | LT]",
    "pexpireat": "key unix-time-milliseconds [NX | XX | GT | LT]", "pexpiretime": "key",
    "pttl": "key", "randomkey": "", "rename": "key newkey", "renamenx": "key newkey",
    "restore": "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] "
               "[FREQ frequency]",
    "restore-asking": "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] "
                      "[FREQ frequency]",
    "scan": "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    "sort": "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] "
            "[ASC | DESC] [ALPHA] [STORE destination]",
    "sort_ro": "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] "
               "[ASC | DESC] [ALPHA]",
    "touch": "key [key ...]", "ttl": "key", "type": "key", "unlink": "key [key ...]",
    "wait": "numreplicas timeout",
    # lists
    "blmove": "source destination LEFT | RIGHT LEFT | RIGHT timeout",
    "blmpop": "timeout numkeys key [key ...] LEFT | RIGHT [COUNT count]",
    "blpop": "key [key ...] timeout", "brpop": "key [key ...] timeout",
    "brpoplpush": "source destination timeout", "lindex": "key index",
    "linsert": "key BEFORE | AFTER pivot element", "llen": "key",
    "lmove": "source destination LEFT | RIGHT LEFT | RIGHT",
    "lmpop": "numkeys key [key ...] LEFT | RIGHT [COUNT count]",
    "lpop": "key [count]",
    "lpos": "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
    "lpush": "key element [element ...]", "lpushx": "key element [element ...]",
    "lrange": "key start stop", "lrem": "key count element", "lset": "key index element",
    "ltrim": "key start stop", "rpop": "key [count]", "rpoplpush": "source destination",
    "rpush": "key element [element ...]", "rpushx": "key element [element ...]",
    # hashes
    "hdel": "key field [field ...]", "hexists": "key field", "hget": "key field",
    "hgetall": "key", "hincrby": "key field increment",
    "hincrbyfloat": "key field increment", "hkeys": "key", "hlen": "key",
    "hmget": "key field [field ...]", "hmset": "key field value [field value ...]",
    "hrandfield": "key [count [WITHVALUES]]",
    "hscan": "key cursor [MATCH pattern] [COUNT count]",
    "hset": "key field value [field value ...]", "hsetnx": "key field value",
    "hstrlen": "key field", "hvals": "key",
    # sets
    "sadd": "key member [member ...]", "scard": "key", "sdiff": "key [key ...]",
    "sdiffstore": "destination key [key ...]", "sinter": "key [key ...]",
    "sintercard": "numkeys key [key ...] [LIMIT limit]",
    "sinterstore": "destination key [key ...]", "sismember": "key member",
    "smembers": "key", "smismember": "key member [member ...]",
    "smove": "source destination member", "spop": "key [count]",
    "srandmember": "key [count]", "srem": "key member [member ...]",
    "sscan": "key cursor [MATCH pattern] [COUNT count]", "sunion": "key [key ...]",
    "sunionstore": "destination key [key ...]",
    # sorted sets
    "bzmpop": "timeout numkeys key [key ...] MIN | MAX [COUNT count]",
    "bzpopmax": "key [key ...] timeout", "bzpopmin": "key [key ...] timeout",
    "zadd": "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]",
    "zcard": "key", "zcount": "key min max", "zdiff": "numkeys key [key ...] [WITHSCORES]",
    "zdiffstore": "destination numkeys key [key ...]", "zincrby": "key increment member",
    "zinter": "numkeys key [key ...] [WEIGHTS weight [weight ...]] "
              "[AGGREGATE SUM | MIN | MAX] [WITHSCORES]",
    "zintercard": "numkeys key [key ...] [LIMIT limit]",
    "zinterstore": "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] "
                   "[AGGREGATE SUM | MIN | MAX]",
    "zlexcount": "key min max", "zmpop": "numkeys key [key ...] MIN | MAX [COUNT count]",
    "zmscore": "key member [member ...]", "zpopmax": "key [count]",
    "zpopmin": "key [count]", "zrandmember": "key [count [WITHSCORES]]",
    "zrange": "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
    "zrangebylex": "key min max [LIMIT offset count]",
    "zrangebyscore": "key min max [WITHSCORES] [LIMIT offset count]",
    "zrangestore": "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]",
    "zrank": "key member", "zrem": "key member [member ...]",
    "zremrangebylex": "key min max", "zremrangebyrank": "key start stop",
    "zremrangebyscore": "key min max", "zrevrange": "key start stop [WITHSCORES]",
    "zrevrangebylex": "key max min [LIMIT offset count]",
    "zrevrangebyscore": "key max min [WITHSCORES] [LIMIT offset count]",
    "zrevrank": "key member", "zscan": "key cursor [MATCH pattern] [COUNT count]",
    "zscore": "key member",
    "zunion": "numkeys key [key ...] [WEIGHTS weight [weight ...]] "
              "[AGGREGATE SUM | MIN | MAX] [WITHSCORES]",
    "zunionstore": "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] "
                   "[AGGREGATE SUM | MIN | MAX]",
    # hyperloglog
    "pfadd": "key [element [element ...]]", "pfcount": "key [key ...]",
    "pfmerge": "destkey sourcekey [sourcekey ...]", "pfdebug": "subcommand key",
    "pfselftest": "",
    # geo
    "geoadd": "key [NX | XX] [CH] longitude latitude member "
              "[longitude latitude member ...]",
    "geodist": "key member1 member2 [M | KM | FT | MI]",
    "geohash": "key [member [member ...]]", "geopos": "key [member [member ...]]",
    "geosearch": "key FROMMEMBER member | FROMLONLAT longitude latitude "
                 "BYRADIUS radius M | KM | FT | MI | BYBOX width height M | KM | FT | MI "
                 "[ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
    "geosearchstore": "destination source FROMMEMBER member | FROMLONLAT longitude "
                      "latitude BYRADIUS radius M | KM | FT | MI | BYBOX width height "
                      "M | KM | FT | MI [ASC | DESC] [COUNT count [ANY]] [STOREDIST]",
    "georadius": "key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST] "
                 "[WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key] [STOREDIST key]",
    "georadius_ro": "key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST] "
                    "[WITHHASH] [COUNT count [ANY]] [ASC | DESC]",
    "georadiusbymember": "key member radius M | KM | FT | MI [WITHCOORD] [WITHDIST] "
                         "[WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key] "
                         "[STOREDIST key]",
    "georadiusbymember_ro": "key member radius M | KM | FT | MI [WITHCOORD] [WITHDIST] "
                            "[WITHHASH] [COUNT count [ANY]] [ASC | DESC]",
    # streams
    "xack": "key group id [id ...]",
    "xadd": "key [NOMKSTREAM] [MAXLEN | MINID [= | ~] threshold [LIMIT count]] * | id "
            "field value [field value ...]",
    "xautoclaim": "key group consumer min-idle-time start [COUNT count] [JUSTID]",
    "xclaim": "key group consumer min-idle-time id [id ...] [IDLE ms] "
              "[TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] "
              "[LASTID lastid]",
    "xdel": "key id [id ...]", "xlen": "key",
    "xpending": "key group [[IDLE min-idle-time] start end count [consumer]]",
    "xrange": "key start end [COUNT count]",
    "xread": "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]",
    "xreadgroup": "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] "
                  "STREAMS key [key ...] id [id ...]",
    "xrevrange": "key end start [COUNT count]",
    "xsetid": "key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]",
    "xtrim": "key MAXLEN | MINID [= | ~] threshold [LIMIT count]",
    "xgroup|create": "key group id | $ [MKSTREAM] [ENTRIESREAD entries-read]",
    "xgroup|createconsumer": "key group consumer",
    "xgroup|delconsumer": "key group consumer", "xgroup|destroy": "key group",
    "xgroup|setid": "key group id | $ [ENTRIESREAD entries-read]",
    "xinfo|consumers": "key group", "xinfo|groups": "key",
    "xinfo|stream": "key [FULL [COUNT count]]",
    # pub/sub
    "psubscribe": "pattern [pattern ...]", "publish": "channel message",
    "punsubscribe": "[pattern [pattern ...]]", "spublish": "shardchannel message",
    "ssubscribe": "shardchannel [shardchannel ...]", "subscribe": "channel [channel ...]",
    "sunsubscribe": "[shardchannel [shardchannel ...]]",
    "unsubscribe": "[channel [channel ...]]", "pubsub|channels": "[pattern]",
    "pubsub|numsub": "[channel [channel ...]]", "pubsub|shardchannels": "[pattern]",
    "pubsub|shardnumsub": "[shardchannel [shardchannel ...]]",
    # transactions, scripting
    "watch": "key [key ...]",
    "eval": "script numkeys [key [key ...]] [arg [arg ...]]",
    "eval_ro": "script numkeys [key [key ...]] [arg [arg ...]]",
    "evalsha": "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    "evalsha_ro": "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    "fcall": "function numkeys [key [key ...]] [arg [arg ...]]",
    "fcall_ro": "function numkeys [key [key ...]] [arg [arg ...]]",
    "function|delete": "library-name", "function|flush": "[ASYNC | SYNC]",
    "function|list": "[LIBRARYNAME library-name-pattern] [WITHCODE]",
    "function|load": "[REPLACE] function-code",
    "function|restore": "serialized-value [FLUSH | APPEND | REPLACE]",
    "script|debug": "YES | SYNC | NO", "script|exists": "sha1 [sha1 ...]",
    "script|flush": "[ASYNC | SYNC]", "script|load": "script",
    # connection
    "auth": "[username] password",
    "client|caching": "YES | NO", "client|kill": "[ip:port] [ID client-id] "
    "[TYPE NORMAL | MASTER | SLAVE | REPLICA | PUBSUB] [USER username] [ADDR ip:port] "
    "[LADDR ip:port] [SKIPME YES | NO]",
    "client|list": "[TYPE NORMAL | MASTER | REPLICA | PUBSUB] [ID client-id [client-id ...]]",
    "client|no-evict": "ON | OFF", "client|pause": "timeout [WRITE | ALL]",
    "client|reply": "ON | OFF | SKIP", "client|setname": "connection-name",
    "client|tracking": "ON | OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] "
                       "[BCAST] [OPTIN] [OPTOUT] [NOLOOP]",
    "client|unblock": "client-id [TIMEOUT | ERROR]",
    "echo": "message", "hello": "[protover [AUTH username password] [SETNAME clientname]]",
    "ping": "[message]", "select": "index",
    # server
    "acl|cat": "[categoryname]", "acl|deluser": "username [username ...]",
    "acl|dryrun": "username command [arg [arg ...]]", "acl|genpass": "[bits]",
    "acl|getuser": "username", "acl|log": "[count | RESET]",
    "acl|setuser": "username [rule [rule ...]]",
    "bgrewriteaof": "", "bgsave": "[SCHEDULE]",
    "command|docs": "[command-name [command-name ...]]",
    "command|info": "[command-name [command-name ...]]",
    "command|list": "[FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]",
    "config|get": "parameter [parameter ...]",
    "config|set": "parameter value [parameter value ...]",
    "failover": "[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]",
    "flushall": "[ASYNC | SYNC]", "flushdb": "[ASYNC | SYNC]",
    "info": "[section [section ...]]", "latency|graph": "event",
    "latency|histogram": "[command [command ...]]", "latency|history": "event",
    "latency|reset": "[event [event ...]]", "lolwut": "[VERSION version]",
    "memory|usage": "key [SAMPLES count]", "module|load": "path [arg [arg ...]]",
    "module|unload": "name", "replicaof": "host port", "slaveof": "host port",
    "shutdown": "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]", "slowlog|get": "[count]",
    "swapdb": "index1 index2",
    # cluster (the common ones)
    "cluster|addslots": "slot [slot ...]", "cluster|countkeysinslot": "slot",
    "cluster|delslots": "slot [slot ...]", "cluster|forget": "node-id",
    "cluster|getkeysinslot": "slot count", "cluster|keyslot": "key",
    "cluster|meet": "ip port [cluster-bus-port]", "cluster|replicate": "node-id",
    "cluster|reset": "[HARD | SOFT]",
    "cluster|setslot": "slot IMPORTING node-id | MIGRATING node-id | NODE node-id | STABLE",
}


_TOKEN_RE = re.compile(r"\[|\]|\(|\)|\||\.\.\.|[^\s\[\]()|]+")


def _is_token(w: str) -> bool:
    return w.upper() == w and any(c.isalpha() for c in w) or w in ("*", "$", "=", "~")


def _arg(name: str) -> dict:
    typ = "key" if name in ("key", "destination", "source", "destkey", "sourcekey", "dst",
                            "src", "newkey", "key1", "key2") else "string"
    if name in ("pattern",):
        typ = "pattern"
    return {"name": name, "type": typ}


def _parse(words: list[str], i: int, end: str | None) -> tuple[list[dict], int, bool]:
    """Parse a sequence up to `end` (']' or ')'). `a | b` is a choice between the items
    right before and after the bar (a token and its argument count as one item)."""
    cur: list[dict] = []
    choice = False
    ellipsis = False
    while i < len(words):
        w = words[i]
        if w == end:
            i += 1
            break
        if w == "|":
            choice = True
            i += 1
            continue
        if w == "...":
            ellipsis = True
            i += 1
            continue
        if w in ("[", "("):
            inner, i, repeated = _parse(words, i + 1, "]" if w == "[" else ")")
            if len(inner) == 1:
                item = dict(inner[0])
            else:
                item = {"name": "block", "type": "block", "arguments": inner}
            if w == "[" and repeated and not choice and _repeats(cur, item):
                continue
            if w == "[":
                item["flags"] = item.get("flags", []) + ["optional"]
        elif _is_token(w):
            nxt = words[i + 1] if i + 1 < len(words) else None
            # in "LEFT | RIGHT timeout" RIGHT is a choice of tokens, not timeout's token
            pure_choice = choice and bool(cur) and _all_pure(cur[-1])
            if (nxt is not None and not _is_token(nxt) and nxt not in "[]()|..."
                    and not pure_choice):
                item = _arg(nxt)
                item["token"] = w
                i += 2
            else:
                item = {"name": w.lower(), "type": "pure-token", "token": w}
                i += 1
        else:
            item = _arg(w)
            i += 1
        if choice and cur:
            prev = cur[-1]
            if prev.get("_choice"):
                prev["arguments"].append(item)
            else:
                cur[-1] = {"name": "choice", "type": "oneof", "_choice": True,
                           "arguments": [prev, item]}
            choice = False
        else:
            cur.append(item)
    return cur, i, ellipsis


def _all_pure(item: dict) -> bool:
    if item.get("type") == "pure-token":
        return True
    return item.get("type") == "oneof" and all(_all_pure(a) for a in item["arguments"])


def _repeats(cur: list[dict], item: dict) -> bool:
    """`x [x ...]`: mark the previous element(s) as multiple instead of adding the group."""
    inner = item.get("arguments") if item.get("type") == "block" else [item]
    n = len(inner)
    if n == 0 or len(cur) < n:
        return False
    prev = cur[-n:]
    if [p.get("name") for p in prev] != [x.get("name") for x in inner]:
        return False
    if n == 1:
        flags = ["multiple"] + (["multiple_token"] if "token" in inner[0] else [])
        cur[-1] = dict(cur[-1], flags=cur[-1].get("flags", []) + flags)
    else:
        del cur[-n:]
        cur.append({"name": "data", "type": "block", "flags": ["multiple"], "arguments": prev})
    return True


def _finish(args: list[dict]) -> list[dict]:
    """Give every argument Redis's key order and flags as a set reply wants them."""
    out = []
    for a in args:
        d: dict = {"name": a["name"], "type": a["type"]}
        if "token" in a:
            d["token"] = a["token"]
        if a.get("flags"):
            d["flags"] = a["flags"]
        if "arguments" in a:
            d["arguments"] = _finish(a["arguments"])
        out.append(d)
    return out


def arguments(fullname: str) -> list[dict] | None:
    """The argument list of COMMAND DOCS for a command, or None when undocumented."""
    usage = USAGE.get(fullname)
    if usage is None:
        return None
    if not usage:
        return []
    args, _, _ = _parse(_TOKEN_RE.findall(usage), 0, None)
    return _finish(args)
