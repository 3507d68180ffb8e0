#!/usr/bin/env python3
"""rpo_exposure.py: the analysis half of bench/rpo.sh.

Usage: rpo_exposure.py run MODE SAMPLES S3LOG PREFIX BASE_LSN T_START T_END WARMUP SEGSIZE
       rpo_exposure.py summary RAW_CSV BASELINE_MODE
       rpo_exposure.py overhead OVERHEAD_CSV

"run": the recovery point exposure of one run (below).  "summary": the
medians per mode over the rounds of raw.csv, and their ratios to the
baseline mode, as Markdown.  "overhead": the paired phases with and
without partials: per pair the ratios on/off of TPS and of CPU per
transaction, their medians (and the range), and the exporter's share of
the server's CPU, as Markdown.

The exposure at a moment t is the age of the oldest committed WAL that is
not yet protected: t minus the time at which the primary's flush position
first passed the protected position P(t).  (0 when P(t) is at the flush
position.)  The same definition for every tool; only P(t) differs:

  revrx, revrx-archive, pgbr-async: the end of the WAL stored in the object
      store without a gap from BASE_LSN, from the S3 server's log of stored
      objects, each line timestamped on arrival (S3LOG: "<epoch> <line>");
      revrx's segments and streamed ranges, pgBackRest's segments.
  receivewal: pg_receivewal's flush position as the primary reports it
      (pg_stat_replication.flush_lsn, sampled with the rest).

SAMPLES: CSV lines "epoch,flush_lsn_bytes,receivewal_flush_bytes|,rpo_seconds|"
taken every ~100 ms by one psql session on the primary.  The time the flush
passed a position is interpolated between the two samples around it.  Only
samples in [T_START + WARMUP, T_END] count.

Prints one line of key=value: exposure p50/p99/max (s), the number of
samples, and for the revrx modes the same figures of revrx_status().rpo_seconds
(revrx's own view), plus the S3 requests per minute in [T_START, T_END].
"""
import bisect
import re
import sys

REQUEST = re.compile(r' [0-9]{3} [0-9.]+ms ')
STORED = re.compile(r'Stored object "([^"]+)" in bucket')
REVRX_KEY = re.compile(r'/wal/[0-9A-F]{8}/([0-9A-F]{24})'
                       r'(?:\.([0-9A-F]{16})\.(?:([0-9A-F]{8})-)?([0-9A-F]{8})\.partial)?'
                       r'(?:\.zst|\.gz|\.lz4)?$')
PGBR_KEY = re.compile(r'/archive/[^/]+/[^/]+/[0-9A-F]{16}/([0-9A-F]{24})-[0-9a-f]{40}(?:\.\w+)?$')


def segno(name, segsize):
    return int(name[8:16], 16) * (0x100000000 // segsize) + int(name[16:24], 16)


def pct(values, q):
    """The q-quantile, nearest rank (as the previous rpo.sh computed it)."""
    if not values:
        return float('nan')
    v = sorted(values)
    k = max(1, -(-len(v) * q // 1))
    return v[int(min(k, len(v))) - 1]


def run(args):
    mode, samples_path, s3log, prefix, base, t_start, t_end, warmup, segsize = args
    base, segsize = int(base), int(segsize)
    t_start, t_end, warmup = float(t_start), float(t_end), float(warmup)

    samples = []
    with open(samples_path) as f:
        for line in f:
            parts = line.strip().split(',')
            if len(parts) != 4:
                continue
            try:
                t, flush = float(parts[0]), int(float(parts[1]))
            except ValueError:
                continue
            rx = int(float(parts[2])) if parts[2] not in ('', '-1') else None
            rpo = float(parts[3]) if parts[3] != '' else None
            samples.append((t, flush, rx, rpo))
    samples.sort()
    times = [s[0] for s in samples]
    flushes = [s[1] for s in samples]

    def passed_at(pos):
        """When the flush position first went past pos (interpolated)."""
        k = bisect.bisect_right(flushes, pos)
        if k == 0:
            return times[0]
        if k >= len(flushes):
            return times[-1]
        f0, f1, t0, t1 = flushes[k - 1], flushes[k], times[k - 1], times[k]
        return t0 + (t1 - t0) * (pos - f0) / (f1 - f0)

    # the objects stored, as LSN intervals, in the order they were stored
    events = []
    requests = 0
    with open(s3log, errors='replace') as f:
        for line in f:
            ts, _, rest = line.partition(' ')
            try:
                ts = float(ts)
            except ValueError:
                continue
            if t_start <= ts <= t_end and REQUEST.search(rest):
                requests += 1
            m = STORED.search(rest)
            if not m or not m.group(1).startswith(prefix + '/'):
                continue
            key = m.group(1)
            km = REVRX_KEY.search(key)
            if km:
                s = segno(km.group(1), segsize)
                if km.group(4) is None:
                    lo, hi = s * segsize, (s + 1) * segsize
                else:
                    lo = s * segsize + (int(km.group(3), 16) if km.group(3) else 0)
                    hi = s * segsize + int(km.group(4), 16)
                events.append((ts, lo, hi))
                continue
            km = PGBR_KEY.search(key)
            if km:
                s = segno(km.group(1), segsize)
                events.append((ts, s * segsize, (s + 1) * segsize))
    events.sort()

    exposures = []
    rpos = []
    stored = []
    e = 0
    protected = base
    for t, flush, rx, rpo in samples:
        if mode == 'receivewal':
            if rx is None:
                continue
            protected = rx
        else:
            while e < len(events) and events[e][0] <= t:
                stored.append(events[e][1:])
                e += 1
            # the end of the stored WAL without a gap from the base
            moved = True
            while moved:
                moved = False
                for lo, hi in stored:
                    if lo <= protected < hi:
                        protected = hi
                        moved = True
        if t < t_start + warmup or t > t_end:
            continue
        exposures.append(0.0 if protected >= flush else max(0.0, t - passed_at(protected)))
        if rpo is not None:
            rpos.append(rpo)

    out = {
        'exp_p50': pct(exposures, 0.50), 'exp_p99': pct(exposures, 0.99),
        'exp_max': max(exposures) if exposures else float('nan'), 'samples': len(exposures),
        'rpo_p50': pct(rpos, 0.50), 'rpo_p99': pct(rpos, 0.99),
        'rpo_max': max(rpos) if rpos else float('nan'),
        's3_req_per_min': requests * 60.0 / (t_end - t_start) if mode != 'receivewal' else float('nan'),
    }
    print(' '.join('%s=%s' % (k, ('%.3f' % v) if isinstance(v, float) else v) for k, v in out.items()))


def summary(args):
    import csv
    import statistics
    raw, baseline = args
    with open(raw) as f:
        rows = [r for r in csv.DictReader(f) if r.get('valid') == 'yes']
    modes = []
    for r in rows:
        if r['mode'] not in modes:
            modes.append(r['mode'])

    def med(mode, key):
        vals = []
        for r in rows:
            if r['mode'] == mode:
                try:
                    v = float(r[key])
                except (KeyError, ValueError):
                    continue
                if v == v:
                    vals.append(v)
        return (statistics.median(vals), len(vals)) if vals else (float('nan'), 0)

    def fmt(v, d=3):
        return 'n/a' if v != v else '%.*f' % (d, v)

    cols = [('exp_p50', 'exposure p50 (s)', 3), ('exp_p99', 'exposure p99 (s)', 3),
            ('exp_max', 'exposure max (s)', 3), ('rpo_p99', 'revrx rpo_seconds p99 (s)', 3),
            ('tps', 'TPS', 0), ('cpu_us_per_txn', 'CPU per txn (us)', 0),
            ('s3_req_per_min', 'S3 requests/min', 0)]
    print('| mode | rounds | ' + ' | '.join(c[1] for c in cols) +
          ' | TPS vs %s | CPU/txn vs %s | S3 req/min vs %s |' % (baseline, baseline, baseline))
    print('|---|---|' + '---|' * (len(cols) + 3))
    btps, bcpu, breq = med(baseline, 'tps')[0], med(baseline, 'cpu_us_per_txn')[0], \
        med(baseline, 's3_req_per_min')[0]
    for m in modes:
        n = med(m, 'tps')[1]
        vals = [fmt(med(m, k)[0], d) for k, _, d in cols]
        tps, cpu, req = med(m, 'tps')[0], med(m, 'cpu_us_per_txn')[0], med(m, 's3_req_per_min')[0]
        ratios = [fmt(tps / btps, 3) if btps == btps and btps else 'n/a',
                  fmt(cpu / bcpu, 3) if bcpu == bcpu and bcpu else 'n/a',
                  fmt(req / breq, 2) if breq == breq and breq and req == req else 'n/a']
        print('| %s | %d | %s | %s |' % (m, n, ' | '.join(vals), ' | '.join(ratios)))


def overhead(args):
    import csv
    import statistics
    with open(args[0]) as f:
        rows = list(csv.DictReader(f))
    pairs = {}
    for r in rows:
        try:
            tps, n = float(r['tps']), float(r['transactions'])
            srv, tool, exp = float(r['server_cpu_s']), float(r['tool_cpu_s']), float(r['exporter_cpu_s'])
        except ValueError:
            continue
        if n <= 0:
            continue
        pairs.setdefault(r['pair'], {})[r['partials']] = (tps, srv * 1e6 / n, (srv + tool) * 1e6 / n,
                                                        exp / srv if srv > 0 else float('nan'))
    tps_r, srv_r, all_r, share = [], [], [], []
    for p in pairs.values():
        if 'on' in p and 'off' in p:
            tps_r.append(p['on'][0] / p['off'][0])
            srv_r.append(p['on'][1] / p['off'][1])
            all_r.append(p['on'][2] / p['off'][2])
            share.append(p['on'][3])

    def line(name, vals):
        if not vals:
            return '| %s | n/a | n/a |' % name
        return '| %s | %.3f | %.3f to %.3f |' % (name, statistics.median(vals), min(vals), max(vals))
    print('| per pair, partials on / off (%d pairs) | median | range |' % len(tps_r))
    print('|---|---|---|')
    print(line('TPS', tps_r))
    print(line('server CPU per transaction', srv_r))
    print(line('server + agent CPU per transaction', all_r))
    print(line('WAL exporter\'s share of the server\'s CPU (on)', share))


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'run' and len(sys.argv) == 11:
        run(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == 'summary' and len(sys.argv) == 4:
        summary(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == 'overhead' and len(sys.argv) == 3:
        overhead(sys.argv[2:])
    else:
        sys.exit(__doc__)
