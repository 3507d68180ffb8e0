#!/usr/bin/env python3
"""walwatch.py - sampling and analysis helper for bench/wal-archive.sh.

  walwatch.py watch STATUSDIR EVENTS [INTERVAL_MS [SPOOLDIR...]]
      Polls STATUSDIR (pg_wal/archive_status) every INTERVAL_MS (default 5)
      until SIGTERM/SIGINT and appends one line per event to EVENTS:
        R <t> <name> <mtime>          NAME.ready first seen (mtime = when the
                                      server created the .ready file)
        D <t> <name> <mtime> <ctime>  NAME.done first seen (a rename keeps the
                                      mtime of the .ready file and sets ctime,
                                      so ctime-mtime is a second, poll-free
                                      measure of the .ready -> .done latency)
        N <t> <count>                 number of .ready files, when it changes
        L <t> <late_ms>               a poll that started > 20 ms late (the
                                      poller itself was starved of CPU)
        S <t> <name> <suffix> <mtime> a file NAME<suffix> first seen in a
                                      SPOOLDIR (revrx: <spool>/wal NAME.rvx,
                                      NAME.ok; pgBackRest async: the spool's
                                      archive/<stanza>/out NAME.ok), for the
                                      breakdown of the latency by stage
      Times are CLOCK_REALTIME seconds, the clock `date +%s.%N` reads.

  walwatch.py wait-drain STATUSDIR TIMEOUT_S
      Polls every 5 ms until STATUSDIR holds no .ready file; prints the time
      (epoch seconds) it saw that, or exits 1 after TIMEOUT_S.

  walwatch.py analyze EVENTS T0 T1 [T_END]
      Per-segment latency and backlog figures for the segments whose .ready
      appeared in [T0, T_END] (T_END defaults to T1); the backlog figures
      are over the load window [T0, T1].  Prints key=value;... for the CSV.

  walwatch.py summarize RAW.csv OUT.md
      Medians / min-max over rounds per mode and same-round ratios
      revrx / pgBackRest, as a Markdown report.
"""
import math
import os
import signal
import statistics
import sys
import time


def ready_names(d):
    try:
        return os.listdir(d)
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------- watch
def is_walname(n):
    return len(n) > 24 and all(c in "0123456789ABCDEF" for c in n[:24])


def watch(statusdir, events, interval_ms=5.0, spooldirs=()):
    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    interval = interval_ms / 1000.0
    seen_ready = set()
    seen_done = set()
    seen_spool = set()
    last_count = -1
    out = open(events, "a", buffering=1 << 16)
    wrote = False
    next_t = time.time()
    while not stop:
        t = time.time()
        late = t - next_t
        if late > 0.020:
            out.write("L %.6f %.1f\n" % (t, late * 1000))
        count = 0
        try:
            entries = os.listdir(statusdir)
        except FileNotFoundError:
            entries = []
        for e in entries:
            if e.endswith(".ready"):
                count += 1
                name = e[:-6]
                if name not in seen_ready:
                    seen_ready.add(name)
                    try:
                        st = os.stat(os.path.join(statusdir, e))
                        mt = st.st_mtime_ns / 1e9
                    except FileNotFoundError:
                        mt = 0.0
                    out.write("R %.6f %s %.6f\n" % (t, name, mt))
                    wrote = True
            elif e.endswith(".done"):
                name = e[:-5]
                if name not in seen_done:
                    seen_done.add(name)
                    try:
                        st = os.stat(os.path.join(statusdir, e))
                        mt, ct = st.st_mtime_ns / 1e9, st.st_ctime_ns / 1e9
                    except FileNotFoundError:
                        mt = ct = 0.0
                    out.write("D %.6f %s %.6f %.6f\n" % (t, name, mt, ct))
                    wrote = True
        for sd in spooldirs:
            try:
                sentries = os.listdir(sd)
            except FileNotFoundError:
                continue
            for e in sentries:
                if e in seen_spool or not is_walname(e):
                    continue
                seen_spool.add(e)
                try:
                    mt = os.stat(os.path.join(sd, e)).st_mtime_ns / 1e9
                except FileNotFoundError:
                    mt = 0.0
                out.write("S %.6f %s %s %.6f\n" % (t, e[:24], e[24:], mt))
                wrote = True
        if count != last_count:
            out.write("N %.6f %d\n" % (t, count))
            last_count = count
            wrote = True
        if wrote:                   # events are rare: make them visible at once
            out.flush()
            wrote = False
        next_t += interval
        now = time.time()
        if next_t < now:            # fell behind: do not try to catch up
            next_t = now + interval
        time.sleep(max(0.0, next_t - now))
    out.flush()
    out.close()


def wait_drain(statusdir, timeout):
    deadline = time.time() + timeout
    while True:
        t = time.time()
        if not any(e.endswith(".ready") for e in ready_names(statusdir)):
            print("%.6f" % t)
            return 0
        if t > deadline:
            print("%.6f" % t)
            return 1
        time.sleep(0.005)


# ---------------------------------------------------------------- analyze
def pct(values, p):
    """percentile with linear interpolation (numpy's default)"""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    f = math.floor(k)
    c = math.ceil(k)
    if f == c:
        return v[int(k)]
    return v[f] + (v[c] - v[f]) * (k - f)


def load_events(path):
    ready, done, counts, late, spool = {}, {}, [], [], {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            try:
                if p[0] == "R":
                    ready.setdefault(p[2], (float(p[1]), float(p[3])))
                elif p[0] == "D":
                    done.setdefault(p[2], (float(p[1]), float(p[3]), float(p[4])))
                elif p[0] == "N":
                    counts.append((float(p[1]), int(p[2])))
                elif p[0] == "L":
                    late.append((float(p[1]), float(p[2])))
                elif p[0] == "S":
                    spool.setdefault((p[2], p[3]), (float(p[1]), float(p[4])))
            except (IndexError, ValueError):
                pass        # a line cut short by the kill
    return ready, done, counts, late, spool


def fmt(x, nd=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return ("%." + str(nd) + "f") % x


def analyze(path, t0, t1, tend):
    ready, done, counts, late, spool = load_events(path)
    lat_poll, lat_stat = [], []
    # stages, from file mtimes (no polling error): .ready created -> object
    # in the spool written (server side: read, hash, compress, write, fsync)
    # -> NAME.ok written (agent: pick up, store, confirm) -> .done (the
    # archive call sees NAME.ok and returns; the archiver renames)
    st_spool, st_ship, st_ack, st_ok = [], [], [], []
    missed_ready = 0
    for name, d in done.items():
        t_done, mt, ct = d
        unseen = name not in ready
        # archived within one poll interval: the .ready was never seen;
        # its creation time (the .done's mtime) stands in for it
        t_ready = mt if unseen else ready[name][0]
        if not (t0 <= t_ready <= tend):
            continue
        missed_ready += unseen
        r_mt = ready[name][1] if not unseen else mt
        obj = spool.get((name, ".rvx"))
        ok = spool.get((name, ".ok"))
        if obj and obj[1] > 0 and r_mt > 0:
            st_spool.append((obj[1] - r_mt) * 1000)
        if obj and ok and obj[1] > 0 and ok[1] > 0:
            st_ship.append((ok[1] - obj[1]) * 1000)
        if ok and ok[1] > 0 and ct > 0:
            st_ack.append((ct - ok[1]) * 1000)
        if ok and ok[1] > 0 and r_mt > 0:
            st_ok.append((ok[1] - r_mt) * 1000)
        lat_poll.append((t_done - t_ready) * 1000)
        if mt > 0 and ct >= mt:
            lat_stat.append((ct - mt) * 1000)
    n_ready_window = sum(1 for (t, _) in ready.values() if t0 <= t <= tend)
    # backlog over the load window: step function of the .ready count
    cur = 0
    for (t, c) in counts:
        if t <= t0:
            cur = c
    area = 0.0
    mx = cur
    over2 = 0.0
    prev_t = t0
    for (t, c) in counts:
        if t <= t0:
            continue
        if t > t1:
            break
        area += cur * (t - prev_t)
        if cur > 2:
            over2 += t - prev_t
        prev_t = t
        cur = c
        mx = max(mx, c)
    area += cur * (t1 - prev_t)
    if cur > 2:
        over2 += t1 - prev_t
    span = max(t1 - t0, 1e-9)
    late_in = [ms for (t, ms) in late if t0 <= t <= tend]
    kv = [
        ("lat_n", str(len(lat_poll))),
        ("lat_p50_ms", fmt(pct(lat_poll, 50))),
        ("lat_p90_ms", fmt(pct(lat_poll, 90))),
        ("lat_p99_ms", fmt(pct(lat_poll, 99))),
        ("lat_max_ms", fmt(max(lat_poll) if lat_poll else float("nan"))),
        ("lat_mean_ms", fmt(statistics.fmean(lat_poll) if lat_poll else float("nan"))),
        ("statlat_p50_ms", fmt(pct(lat_stat, 50))),
        ("statlat_p99_ms", fmt(pct(lat_stat, 99))),
        ("ready_unseen", str(missed_ready)),
        ("ready_in_window", str(n_ready_window)),
        ("backlog_max", str(mx)),
        ("backlog_avg", fmt(area / span, 2)),
        ("backlog_gt2_pct", fmt(100 * over2 / span, 1)),
        ("stage_n", str(len(st_ok))),
        ("stage_spool_p50_ms", fmt(pct(st_spool, 50))),
        ("stage_ship_p50_ms", fmt(pct(st_ship, 50))),
        ("stage_ready_to_ok_p50_ms", fmt(pct(st_ok, 50))),
        ("stage_ack_p50_ms", fmt(pct(st_ack, 50))),
        ("poll_late_n", str(len(late_in))),
        ("poll_late_max_ms", fmt(max(late_in) if late_in else 0.0)),
    ]
    print(";".join("%s=%s" % kv_ for kv_ in kv))
    # the raw latencies, for pooling across runs
    return lat_poll


# ---------------------------------------------------------------- summarize
MODE_LABEL = {
    "revrx": "revrx (zstd 3, ack=repository, lookahead 8, 1 spooler worker, parallel 4)",
    "revrx-lz4": "revrx (lz4 1, otherwise as above)",
    "revrx-workers0": "revrx without spooler workers (archive_lookahead_workers = 0)",
    "revrx-poll10": "revrx, agent poll 10 ms (diagnostic)",
    "pgbr-sync-zst": "pgBackRest sync, zst 3",
    "pgbr-async-zst": "pgBackRest async, zst 3, process-max=2",
    "pgbr-sync-lz4": "pgBackRest sync, lz4 1",
    "pgbr-async-lz4": "pgBackRest async, lz4 1, process-max=2",
}


def read_raw(path):
    rows = []
    with open(path) as f:
        header = f.readline().strip().split(",")
        for line in f:
            p = line.rstrip("\n").split(",", len(header) - 1)
            r = dict(zip(header, p))
            extra = {}
            for kv in r.get("extra", "").split(";"):
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    extra[k] = v
            r["x"] = extra
            rows.append(r)
    return rows


def num(v):
    try:
        x = float(v)
        return None if math.isnan(x) else x
    except (TypeError, ValueError):
        return None


def med_range(vals, nd):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "NA"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt(m, nd)
    return "%s (%s–%s)" % (fmt(m, nd), fmt(min(vals), nd), fmt(max(vals), nd))


def summarize(raw, outmd):
    rows = read_raw(raw)
    modes = []
    for r in rows:
        if r["mode"] not in modes:
            modes.append(r["mode"])
    rounds = sorted({r["round"] for r in rows}, key=int)

    def get(phase, mode, rnd, key):
        for r in rows:
            if r["phase"] == phase and r["mode"] == mode and r["round"] == rnd:
                if key in r:
                    return num(r[key])
                return num(r["x"].get(key))
        return None

    def vals(phase, mode, key):
        return [get(phase, mode, rnd, key) for rnd in rounds]

    out = []
    w = out.append
    sus_cols = [
        ("WAL MB", "wal_MB", 0), ("MB/s", "wal_MBps", 1),
        ("segments archived/s", "seg_per_s", 2), ("pgbench tps", "tps", 0),
        ("latency p50 ms", "lat_p50_ms", 1), ("latency p99 ms", "lat_p99_ms", 1),
        ("latency max ms", "lat_max_ms", 1),
        ("backlog max", "backlog_max", 0), ("backlog avg", "backlog_avg", 2),
        ("% of time backlog > 2", "backlog_gt2_pct", 1),
        (".ready at end", "ready_end", 0), ("drain after end s", "drain_s", 2),
        ("archiving CPU-s/segment", "arch_cpu_per_seg", 3),
        ("of which revrx-agent", "agent_cpu_per_seg", 3),
        ("host busy %", "host_busy_pct", 0),
        ("failed", "failed", 0),
    ]
    cap_cols = [
        ("segments", "segments", 0), ("drain s", "seconds", 2),
        ("segments/s", "seg_per_s", 1), ("ms/segment", "ms_per_seg", 1),
        ("host busy %", "host_busy_pct", 0),
        ("host CPU-s/segment", "host_cpu_per_seg", 3),
        ("archiving CPU-s/segment", "arch_cpu_per_seg", 3),
        ("of which revrx-agent", "agent_cpu_per_seg", 3),
        ("server+archiving CPU-s/segment", "cg_cpu_per_seg", 3),
        ("repo bytes/segment (KB)", "repo_kb_per_seg", 0),
        ("revrx-agent peak RSS MiB", "agent_rss_MiB", 1),
        ("failed", "failed", 0),
    ]
    for title, phase, cols in (("Sustained load", "sustained", sus_cols),
                               ("Capacity (backlog drain)", "drain", cap_cols)):
        w("### %s: median (min–max) over %d rounds\n" % (title, len(rounds)))
        w("| mode | " + " | ".join(c[0] for c in cols) + " |")
        w("|---" * (len(cols) + 1) + "|")
        for m in modes:
            w("| %s | " % MODE_LABEL.get(m, m) + " | ".join(
                med_range(vals(phase, m, c[1]), c[2]) for c in cols) + " |")
        w("")
    # where the latency goes, from file times (median of the per-round medians)
    stages = [("object spooled (server: read, hash, compress, write)", "stage_spool_p50_ms"),
              ("spooled -> NAME.ok (agent: pick up, store, confirm)", "stage_ship_p50_ms"),
              (".ready -> NAME.ok", "stage_ready_to_ok_p50_ms"),
              ("NAME.ok -> .done (archive call returns)", "stage_ack_p50_ms"),
              (".ready -> .done", "statlat_p50_ms")]
    smodes = [m for m in modes if any((v or 0) > 0 for v in vals("sustained", m, "stage_n"))]
    if smodes:
        w("### Sustained load: latency by stage, from file times, median ms (min–max of the round medians)\n")
        w("| stage | " + " | ".join(MODE_LABEL.get(m, m) for m in smodes) + " |")
        w("|---" * (len(smodes) + 1) + "|")
        for label, key in stages:
            w("| %s | " % label + " | ".join(med_range(vals("sustained", m, key), 0) for m in smodes) + " |")
        w("")
    # per-segment latency pooled over all rounds (the per-round p99 of ~40
    # segments is close to the maximum; the pooled one is steadier)
    d = os.path.dirname(os.path.abspath(raw))
    pooled = {}
    for m in modes:
        f = os.path.join(d, "lat-sustained-%s.txt" % m)
        if os.path.exists(f):
            with open(f) as fh:
                pooled[m] = [float(x) for x in fh if x.strip()]
    if pooled:
        w("### Sustained load: .ready -> .done latency per segment, pooled over all rounds (ms)\n")
        w("| mode | segments | p50 | p90 | p99 | max | mean |")
        w("|---|---|---|---|---|---|---|")
        for m in modes:
            v = pooled.get(m)
            if not v:
                continue
            w("| %s | %d | %s | %s | %s | %s | %s |" % (
                MODE_LABEL.get(m, m), len(v), fmt(pct(v, 50)), fmt(pct(v, 90)),
                fmt(pct(v, 99)), fmt(max(v)), fmt(statistics.fmean(v))))
        if "revrx" in pooled:
            w("")
            w("| revrx / | p50 | p90 | p99 |")
            w("|---|---|---|---|")
            a = pooled["revrx"]
            for m in modes:
                if m == "revrx" or not pooled.get(m):
                    continue
                b = pooled[m]
                w("| %s | %s | %s | %s |" % (MODE_LABEL.get(m, m),
                  *(fmt(pct(a, q) / pct(b, q), 2) for q in (50, 90, 99))))
        w("")
    # ratios of each revrx codec / each pgBackRest mode, same round, median
    # over rounds, against every pgBackRest mode (like with like is revrx /
    # *-zst and revrx-lz4 / *-lz4; the others are there for the trade-off)
    for base in [m for m in ("revrx", "revrx-lz4") if m in modes]:
        for title, phase, cols in (("Sustained", "sustained", sus_cols),
                                   ("Capacity", "drain", cap_cols)):
            w("### Ratios %s / pgBackRest, %s (per-round ratio, median (min–max) over rounds)\n" % (base, title))
            # not comparable as ratios: counts that depend on the backlog
            # size, figures that are 0 for every mode, revrx-only figures
            cols2 = [c for c in cols if c[1] not in (
                "failed", "segments", "seconds", "ready_end", "backlog_gt2_pct",
                "agent_cpu_per_seg", "agent_rss_MiB")]
            w("| vs | " + " | ".join(c[0] for c in cols2) + " |")
            w("|---" * (len(cols2) + 1) + "|")
            for m in modes:
                if m.startswith("revrx"):
                    continue
                cells = []
                for c in cols2:
                    rs = []
                    for rnd in rounds:
                        a = get(phase, base, rnd, c[1])
                        b = get(phase, m, rnd, c[1])
                        if a is not None and b is not None and b != 0:
                            rs.append(a / b)
                    cells.append(med_range(rs, 2))
                w("| %s | " % MODE_LABEL.get(m, m) + " | ".join(cells) + " |")
            w("")
    bad = [r for r in rows if "error" in r["x"]]
    if bad:
        w("### Runs that failed\n")
        for r in bad:
            w("- round %s, %s, %s: %s (see runs/%s-%s/)" % (
                r["round"], r["mode"], r["phase"], r["x"]["error"], r["round"], r["mode"]))
        w("")
    with open(outmd, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "watch":
        watch(argv[2], argv[3], float(argv[4]) if len(argv) > 4 else 5.0, argv[5:])
        return 0
    if cmd == "wait-drain":
        return wait_drain(argv[2], float(argv[3]))
    if cmd == "analyze":
        t0, t1 = float(argv[3]), float(argv[4])
        tend = float(argv[5]) if len(argv) > 5 else t1
        lat = analyze(argv[2], t0, t1, tend)
        if len(argv) > 6:
            with open(argv[6], "a") as f:
                for x in lat:
                    f.write("%.3f\n" % x)
        return 0
    if cmd == "summarize":
        summarize(argv[2], argv[3])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
