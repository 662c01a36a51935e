"""INFO [section ...]: every section and field of Redis 7.0's INFO, in its order.

Each section is a function server -> list of "field:value" lines, kept in SECTIONS (in
output order). Subsystems owned elsewhere feed the fields through server attributes named
as in Redis (stat_sync_full, master_repl_offset...), read with defaults here, or replace a
whole section: `SECTIONS["replication"] = their_function`.

latencystats is an approximation: commands keep no latency histogram, so every
percentile is the command's mean latency (usec / calls)."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable

from bocho import REDIS_VERSION, __version__, evict, network, resp
from bocho.commands import all_commands, command, sync_stats

SRV = "server"
BUILD_ID = "b0c40b0c40b0c40"  # stands for Redis's build id (a hash of the build)

DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication",
                    "cpu", "module_list", "errorstats", "cluster", "keyspace")


def _g(srv, name: str, default=0):
    return getattr(srv, name, default)


def _human(n: float) -> str:
    """bytesToHuman: 1015.40K, 11.86M ..."""
    if n < 1024:
        return f"{int(n)}B"
    for unit in "KMGTP":
        n /= 1024
        if n < 1024:
            return f"{n:.2f}{unit}"
    return f"{int(n * 1024**5)}B"


# -- sections ------------------------------------------------------------------------------

def section_server(srv) -> list[str]:
    cfg = srv.config
    mode = "cluster" if cfg["cluster-enabled"] else (
        "sentinel" if getattr(cfg, "sentinel_mode", False) else "standalone")
    sup = cfg["supervised"]
    if sup == "auto":
        sup = "systemd" if os.environ.get("NOTIFY_SOCKET") else "no"
    u = platform.uname()
    now = time.time()
    uptime = int(now - srv.start_time)
    hz = _g(srv, "hz", cfg["hz"])
    lines = [
        f"redis_version:{REDIS_VERSION}",
        f"bocho_version:{__version__}",
        f"bocho_fastpath:{network.FASTPATH}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        f"redis_build_id:{BUILD_ID}",
        f"redis_mode:{mode}",
        f"os:{u.system} {u.release} {u.machine}",
        "arch_bits:64",
        "monotonic_clock:POSIX clock_gettime",
        "multiplexing_api:epoll",
        "atomicvar_api:c11-builtin",
        "gcc_version:0.0.0",
        f"process_id:{os.getpid()}",
        f"process_supervised:{sup}",
        f"run_id:{srv.run_id}",
        f"tcp_port:{cfg['port'] or cfg['tls-port']}",
        f"server_time_usec:{int(now * 1_000_000)}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
        f"hz:{hz}",
        f"configured_hz:{cfg['hz']}",
        f"lru_clock:{int(now) & ((1 << 24) - 1)}",
        f"executable:{srv.executable or ''}",
        f"config_file:{srv.config_file or ''}",
        "io_threads_active:0",
    ]
    if srv.shutdown_mstime:
        lines.append(f"shutdown_in_milliseconds:{srv.shutdown_in_ms()}")
    return lines


def _replicas(srv) -> list:
    return [c for c in srv.clients.values() if c.flags & 8 and not c.flags & 1]


def section_clients(srv) -> list[str]:
    clients = list(srv.clients.values())
    nrepl = len(_replicas(srv))
    maxin = max((getattr(c, "qbuf_peak", 0) for c in clients), default=0)
    maxout = 0
    for c in clients:
        tr = c.transport
        if tr is not None:
            try:
                maxout = max(maxout, tr.get_write_buffer_size())
            except Exception:
                pass
    blocked = _g(srv, "blocked_clients", None)
    if blocked is None:
        blocked = sum(1 for c in clients if c.blocked and c.block_state is not None)
    tracking = _g(srv, "tracking_clients", None)
    if tracking is None:
        tracking = sum(1 for c in clients if c.flags & 2048)
    return [
        f"connected_clients:{len(clients) - nrepl}",
        "cluster_connections:0",
        f"maxclients:{srv.config['maxclients']}",
        f"client_recent_max_input_buffer:{maxin}",
        f"client_recent_max_output_buffer:{maxout}",
        f"blocked_clients:{blocked}",
        f"tracking_clients:{tracking}",
        f"clients_in_timeout_table:{_g(srv, 'clients_in_timeout_table', 0)}",
    ]


def _total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def section_memory(srv) -> list[str]:
    from bocho import memory
    fields: dict[str, object] = {}
    info_fields = getattr(memory, "info_fields", None)
    if info_fields is not None:
        fields.update(info_fields(srv))
    else:
        used = memory.used_memory(srv)
        rss = memory.rss()
        fields.update(used_memory=used, used_memory_rss=rss)
    used = int(fields.get("used_memory", 0))
    rss = int(fields.get("used_memory_rss", memory.rss()))
    peak = int(fields.get("used_memory_peak", used))
    total_mem = _total_system_memory()
    maxm = srv.maxmemory
    lua = _g(srv, "lua_memory", 0)
    funcs = _g(srv, "functions_memory", 0)
    frag = rss / used if used else 0.0
    order = [
        ("used_memory", used),
        ("used_memory_human", _human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)),
        ("used_memory_peak_perc", f"{used * 100 / peak if peak else 0:.2f}%"),
        ("used_memory_overhead", used),
        ("used_memory_startup", 0),
        ("used_memory_dataset", 0),
        ("used_memory_dataset_perc", "0.00%"),
        ("allocator_allocated", used),
        ("allocator_active", used),
        ("allocator_resident", rss),
        ("total_system_memory", total_mem),
        ("total_system_memory_human", _human(total_mem)),
        ("used_memory_lua", lua),
        ("used_memory_vm_eval", lua),
        ("used_memory_lua_human", _human(lua)),
        ("used_memory_scripts_eval", _g(srv, "scripts_cache_memory", 0)),
        ("number_of_cached_scripts", _g(srv, "number_of_cached_scripts", 0)),
        ("number_of_functions", _g(srv, "number_of_functions", 0)),
        ("number_of_libraries", _g(srv, "number_of_libraries", 0)),
        ("used_memory_vm_functions", funcs),
        ("used_memory_vm_total", funcs + lua),
        ("used_memory_vm_total_human", _human(funcs + lua)),
        ("used_memory_functions", 0),
        ("used_memory_scripts", 0),
        ("used_memory_scripts_human", "0B"),
        ("maxmemory", maxm),
        ("maxmemory_human", _human(maxm)),
        ("maxmemory_policy", srv.config["maxmemory-policy"]),
        ("allocator_frag_ratio", "1.00"),
        ("allocator_frag_bytes", 0),
        ("allocator_rss_ratio", f"{frag:.2f}"),
        ("allocator_rss_bytes", rss - used),
        ("rss_overhead_ratio", "1.00"),
        ("rss_overhead_bytes", 0),
        ("mem_fragmentation_ratio", f"{frag:.2f}"),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_not_counted_for_evict", 0),
        ("mem_replication_backlog", srv.master_side.buffer_memory()[0]),
        ("mem_total_replication_buffers", srv.master_side.buffer_memory()[1]),
        ("mem_clients_slaves", 0),
        ("mem_clients_normal", 0),
        ("mem_cluster_links", 0),
        ("mem_aof_buffer", _g(srv, "aof_buffer_length", 0)),
        ("mem_allocator", "libc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", _g(srv, "lazyfree_pending_objects", 0)),
        ("lazyfreed_objects", _g(srv, "stat_lazyfreed_objects", 0)),
    ]
    return [f"{k}:{fields.get(k, v)}" for k, v in order]


def section_persistence(srv) -> list[str]:
    cfg = srv.config
    loading = bool(_g(srv, "loading", False))
    async_loading = bool(_g(srv, "async_loading", False))
    child = _g(srv, "child_type", None)  # "rdb" / "aof" / "module" / None
    now = int(time.time())
    rdb_start = _g(srv, "rdb_save_time_start", 0)
    aof_start = _g(srv, "aof_rewrite_time_start", 0)
    aof_on = bool(_g(srv, "aof_state", cfg["appendonly"]))
    lines = [
        f"loading:{int(loading and not async_loading)}",
        f"async_loading:{int(async_loading)}",
        f"current_cow_peak:{_g(srv, 'stat_current_cow_peak')}",
        f"current_cow_size:{_g(srv, 'stat_current_cow_bytes')}",
        f"current_cow_size_age:{_g(srv, 'current_cow_size_age')}",
        f"current_fork_perc:{_g(srv, 'current_fork_perc', 0.0):.2f}",
        f"current_save_keys_processed:{_g(srv, 'stat_current_save_keys_processed')}",
        f"current_save_keys_total:{_g(srv, 'stat_current_save_keys_total')}",
        f"rdb_changes_since_last_save:{srv.dirty}",
        f"rdb_bgsave_in_progress:{int(child == 'rdb')}",
        f"rdb_last_save_time:{srv.lastsave}",
        f"rdb_last_bgsave_status:{'ok' if _g(srv, 'lastbgsave_ok', True) else 'err'}",
        f"rdb_last_bgsave_time_sec:{_g(srv, 'rdb_save_time_last', -1)}",
        f"rdb_current_bgsave_time_sec:{now - rdb_start if child == 'rdb' else -1}",
        f"rdb_saves:{_g(srv, 'stat_rdb_saves')}",
        f"rdb_last_cow_size:{_g(srv, 'stat_rdb_cow_bytes')}",
        f"rdb_last_load_keys_expired:{_g(srv, 'rdb_last_load_keys_expired')}",
        f"rdb_last_load_keys_loaded:{_g(srv, 'rdb_last_load_keys_loaded')}",
        f"aof_enabled:{int(aof_on)}",
        f"aof_rewrite_in_progress:{int(child == 'aof')}",
        f"aof_rewrite_scheduled:{int(bool(_g(srv, 'aof_rewrite_scheduled')))}",
        f"aof_last_rewrite_time_sec:{_g(srv, 'aof_rewrite_time_last', -1)}",
        f"aof_current_rewrite_time_sec:{now - aof_start if child == 'aof' else -1}",
        f"aof_last_bgrewrite_status:{'ok' if _g(srv, 'aof_lastbgrewrite_ok', True) else 'err'}",
        f"aof_rewrites:{_g(srv, 'stat_aof_rewrites')}",
        f"aof_rewrites_consecutive_failures:{_g(srv, 'stat_aofrw_consecutive_failures')}",
        f"aof_last_write_status:{'ok' if _g(srv, 'aof_last_write_ok', True) else 'err'}",
        f"aof_last_cow_size:{_g(srv, 'stat_aof_cow_bytes')}",
        f"module_fork_in_progress:{int(child == 'module')}",
        "module_fork_last_cow_size:0",
    ]
    if cfg["appendonly"]:
        lines += [
            f"aof_current_size:{_g(srv, 'aof_current_size')}",
            f"aof_base_size:{_g(srv, 'aof_rewrite_base_size')}",
            f"aof_pending_rewrite:{int(bool(_g(srv, 'aof_rewrite_scheduled')))}",
            f"aof_buffer_length:{_g(srv, 'aof_buffer_length')}",
            f"aof_pending_bio_fsync:{_g(srv, 'aof_pending_bio_fsync')}",
            f"aof_delayed_fsync:{_g(srv, 'aof_delayed_fsync')}",
        ]
    if loading:
        total = _g(srv, "loading_total_bytes")
        done = _g(srv, "loading_loaded_bytes")
        start = _g(srv, "loading_start_time", now)
        perc = done * 100 / total if total else 0.0
        elapsed = now - start
        eta = 1 if elapsed == 0 else elapsed * max(1, total - done) // (done + 1)
        lines += [
            f"loading_start_time:{start}",
            f"loading_total_bytes:{total}",
            f"loading_rdb_used_mem:{_g(srv, 'loading_rdb_used_mem')}",
            f"loading_loaded_bytes:{done}",
            f"loading_loaded_perc:{perc:.2f}",
            f"loading_eta_seconds:{eta}",
        ]
    return lines


def total_net_bytes(srv) -> tuple[int, int]:
    live = list(srv.clients.values())
    return (srv.stat_net_in_closed + sum(c.net_in for c in live),
            srv.stat_net_out_closed + sum(c.net_out for c in live))


def sample_net(srv) -> None:
    """A cron hook (installed at start-up): network byte counters every 100 ms, the last
    16 kept, as Redis's trackInstantaneousMetric."""
    samples = srv.__dict__.setdefault("_net_samples", [])
    now = time.monotonic()
    if samples and now - samples[-1][0] < 0.1:
        return
    net_in, net_out = total_net_bytes(srv)
    samples.append((now, net_in, net_out))
    del samples[:-16]


def instantaneous_kbps(srv) -> tuple[float, float]:
    samples = srv.__dict__.get("_net_samples") or []
    if len(samples) < 2:
        return 0.0, 0.0
    (t0, i0, o0), (t1, i1, o1) = samples[0], samples[-1]
    dt = t1 - t0
    if dt <= 0:
        return 0.0, 0.0
    return max(0.0, (i1 - i0) / dt / 1024), max(0.0, (o1 - o0) / dt / 1024)


def section_stats(srv) -> list[str]:
    net_in, net_out = total_net_bytes(srv)
    repl_in = _g(srv, "stat_net_repl_input_bytes")
    repl_out = _g(srv, "stat_net_repl_output_bytes")
    kin, kout = instantaneous_kbps(srv)
    tracking = _g(srv, "tracking_totals", None)
    tk, ti, tp = tracking(srv) if callable(tracking) else (0, 0, 0)
    return [
        f"total_connections_received:{srv.stat_numconnections}",
        f"total_commands_processed:{srv.total_commands()}",
        f"instantaneous_ops_per_sec:{srv.instantaneous_ops()}",
        f"total_net_input_bytes:{net_in + repl_in}",
        f"total_net_output_bytes:{net_out + repl_out}",
        f"total_net_repl_input_bytes:{repl_in}",
        f"total_net_repl_output_bytes:{repl_out}",
        f"instantaneous_input_kbps:{kin:.2f}",
        f"instantaneous_output_kbps:{kout:.2f}",
        "instantaneous_input_repl_kbps:0.00",
        "instantaneous_output_repl_kbps:0.00",
        f"rejected_connections:{srv.stat_rejected_conn}",
        f"sync_full:{_g(srv, 'stat_sync_full')}",
        f"sync_partial_ok:{_g(srv, 'stat_sync_partial_ok')}",
        f"sync_partial_err:{_g(srv, 'stat_sync_partial_err')}",
        f"expired_keys:{srv.stat_expiredkeys}",
        f"expired_stale_perc:{srv.stat_expired_stale_perc * 100:.2f}",
        f"expired_time_cap_reached_count:{srv.stat_expired_time_cap_reached_count}",
        f"expire_cycle_cpu_milliseconds:{srv.stat_expire_cycle_time_used // 1000}",
        f"evicted_keys:{srv.stat_evictedkeys}",
        f"evicted_clients:{srv.stat_evictedclients}",
        f"total_eviction_exceeded_time:{evict.total_exceeded_ms(srv)}",
        f"current_eviction_exceeded_time:{evict.current_exceeded_ms(srv)}",
        f"keyspace_hits:{srv.stat_keyspace_hits}",
        f"keyspace_misses:{srv.stat_keyspace_misses}",
        f"pubsub_channels:{len(srv.pubsub_channels)}",
        f"pubsub_patterns:{len(srv.pubsub_patterns)}",
        f"pubsubshard_channels:{len(_g(srv, 'pubsub_shard', {}) or {})}",
        f"latest_fork_usec:{_g(srv, 'stat_fork_time')}",
        f"total_forks:{_g(srv, 'stat_total_forks')}",
        f"migrate_cached_sockets:{len(_g(srv, 'migrate_sockets', {}) or {})}",
        f"slave_expires_tracked_keys:{_g(srv, 'slave_expires_tracked_keys')}",
        "active_defrag_hits:0",
        "active_defrag_misses:0",
        "active_defrag_key_hits:0",
        "active_defrag_key_misses:0",
        "total_active_defrag_time:0",
        "current_active_defrag_time:0",
        f"tracking_total_keys:{tk}",
        f"tracking_total_items:{ti}",
        f"tracking_total_prefixes:{tp}",
        f"unexpected_error_replies:{srv.stat_unexpected_error_replies}",
        f"total_error_replies:{srv.stat_total_error_replies}",
        f"dump_payload_sanitizations:{_g(srv, 'stat_dump_payload_sanitizations')}",
        f"total_reads_processed:{_g(srv, 'stat_total_reads_processed', srv.stat_io_reads)}",
        f"total_writes_processed:{_g(srv, 'stat_total_writes_processed')}",
        "io_threaded_reads_processed:0",
        "io_threaded_writes_processed:0",
        f"reply_buffer_shrinks:{_g(srv, 'stat_reply_buffer_shrinks')}",
        f"reply_buffer_expands:{_g(srv, 'stat_reply_buffer_expands')}",
    ]


def section_replication(srv) -> list[str]:
    """The master-side view when no replication module replaced this section."""
    cfg = srv.config
    replica = srv.replica.masterhost is not None
    lines = [f"role:{'slave' if replica else 'master'}"]
    if replica:
        lines += srv.replica.info_lines()
    lines.append(f"connected_slaves:{len(_replicas(srv))}")
    if cfg["min-replicas-to-write"] and cfg["min-replicas-max-lag"]:
        lines.append(f"min_slaves_good_slaves:{_g(srv, 'repl_good_slaves_count')}")
    replicas_info = _g(srv, "replicas_info", None)  # slaveN: lines (replication/master.py)
    if replicas_info is not None:
        lines += replicas_info()
    repl = srv.repl
    bl = repl.backlog
    lines += [
        f"master_failover_state:{_g(srv, 'failover_state', 'no-failover')}",
        f"master_replid:{repl.replid}",
        f"master_replid2:{repl.replid2}",
        f"master_repl_offset:{repl.master_repl_offset}",
        f"second_repl_offset:{repl.second_replid_offset}",
        f"repl_backlog_active:{int(bl is not None)}",
        f"repl_backlog_size:{cfg['repl-backlog-size']}",
        f"repl_backlog_first_byte_offset:{bl.first if bl is not None else 0}",
        f"repl_backlog_histlen:{bl.histlen if bl is not None else 0}",
    ]
    return lines


def section_cpu(srv) -> list[str]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    th = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    return [
        f"used_cpu_sys:{me.ru_stime:.6f}",
        f"used_cpu_user:{me.ru_utime:.6f}",
        f"used_cpu_sys_children:{ch.ru_stime:.6f}",
        f"used_cpu_user_children:{ch.ru_utime:.6f}",
        f"used_cpu_sys_main_thread:{th.ru_stime:.6f}",
        f"used_cpu_user_main_thread:{th.ru_utime:.6f}",
    ]


def section_modules(srv) -> list[str]:
    return []


def _safe(name: str) -> str:
    """getSafeInfoString: '#', ':' and newlines would break the format."""
    for ch in "#:\n\r":
        name = name.replace(ch, "_")
    return name


def _walk_commands():
    sync_stats()
    for cmd in all_commands():
        yield cmd
        if cmd.subcommands:
            yield from cmd.subcommands.values()


def section_commandstats(srv) -> list[str]:
    out = []
    for cmd in _walk_commands():
        if cmd.calls or cmd.failed_calls or cmd.rejected_calls:
            usec = cmd.usec // 1000  # Command.usec counts nanoseconds
            per = usec / cmd.calls if cmd.calls else 0.0
            out.append(f"cmdstat_{_safe(cmd.fullname)}:calls={cmd.calls},usec={usec},"
                       f"usec_per_call={per:.2f},rejected_calls={cmd.rejected_calls},"
                       f"failed_calls={cmd.failed_calls}")
    return out


def section_errorstats(srv) -> list[str]:
    return [f"errorstat_{_safe(k.decode('utf-8', 'replace'))}:count={v}"
            for k, v in sorted(srv.errorstats.items())]


def section_latencystats(srv) -> list[str]:
    cfg = srv.config
    if not cfg["latency-tracking"]:
        return []
    from bocho.config import trim_double
    pcts = cfg["latency-tracking-info-percentiles"]
    out = []
    for cmd in _walk_commands():
        if not cmd.calls:
            continue
        mean = cmd.usec / cmd.calls / 1000
        vals = ",".join(f"p{trim_double(f'{p:f}')}={mean:.3f}" for p in pcts)
        out.append(f"latency_percentiles_usec_{_safe(cmd.fullname)}:{vals}")
    return out


def section_cluster(srv) -> list[str]:
    return [f"cluster_enabled:{int(bool(srv.config['cluster-enabled']))}"]


def section_keyspace(srv) -> list[str]:
    out = []
    for db in srv.dbs:
        keys, vkeys = len(db.data), len(db.expires)
        if keys or vkeys:
            out.append(f"db{db.id}:keys={keys},expires={vkeys},avg_ttl={getattr(db, 'avg_ttl', 0)}")
    return out


# Output order and titles, as Redis prints them.
SECTIONS: dict[str, Callable] = {
    "server": section_server,
    "clients": section_clients,
    "memory": section_memory,
    "persistence": section_persistence,
    "stats": section_stats,
    "replication": section_replication,
    "cpu": section_cpu,
    "modules": section_modules,
    "commandstats": section_commandstats,
    "errorstats": section_errorstats,
    "latencystats": section_latencystats,
    "cluster": section_cluster,
    "keyspace": section_keyspace,
}
TITLES = {"cpu": "CPU"}


def wanted_sections(args: list[bytes]) -> tuple[set[str], bool, bool]:
    """genInfoSectionDict: (named sections, all, everything)."""
    if not args:
        return set(DEFAULT_SECTIONS), False, False
    names: set[str] = set()
    all_, everything = False, False
    for a in args:
        s = a.decode("utf-8", "replace").lower()
        if s == "default":
            names.update(DEFAULT_SECTIONS)
        elif s == "all":
            all_ = True
        elif s == "everything":
            all_ = everything = True
        else:
            names.add(s)
    return names, all_, everything


def info_text(srv, args: list[bytes]) -> str:
    names, all_, _everything = wanted_sections(args)
    parts = []
    for name, fn in SECTIONS.items():
        # "all" is every section here; "everything" adds modules' own sections (none)
        hit = all_ or name in names or (name == "modules" and "module_list" in names)
        if not hit:
            continue
        title = TITLES.get(name, name.capitalize())
        body = "".join(line + "\r\n" for line in fn(srv))
        parts.append(f"# {title}\r\n{body}")
    return "\r\n".join(parts)


@command("info", -1, "loading stale", group=SRV, acl=("dangerous",), since="1.0.0",
         summary="Get information and statistics about the server",
         complexity="O(1)",
         tips=("nondeterministic_output", "request_policy:all_shards", "response_policy:special"))
def info(c, argv):
    text = info_text(c.server, argv[1:])
    return resp.verbatim(text.encode("utf-8", "replace"), c.resp)


__all__ = ["SECTIONS", "info_text", "section_commandstats"]
