"""Orchestration overhead: a live migration through migrator against a bare migrateToURI3.

Brings up a 2-host sandbox with one shared-disk guest and migrator-all (SQLite, in-process
bus), then alternates: the guest moves once through the REST API (from POST to the API
showing `completed`) and once by a bare migrateToURI3 with the same flags, N times each.
Prints the medians and the ratio end-to-end / bare.

That ratio carries the job's own spread: on the sandbox's small guest a bare job takes
0.6 s in one run and 1.0-2.0 s in the next (TCG, a shared machine), more than the
orchestration adds. So it also prints what is outside the job, migration by migration (the
end-to-end time less the agent's own migrateToURI3), and the ratio that alone gives
against the bare median. --memory-mib (and --dirty-rate) size the guest: the orchestration
costs the same whatever the job, so its share falls as the job grows toward a real guest's.

With --qemu-downtime the requests ask for QEMU's own downtime policy (300 ms from the start,
no stepping), the one the bare call runs with, so that the ratio is the orchestration alone;
without it they take the service's defaults ([libvirt] live_migration_downtime, stepped up
from a tenth of it).

Besides the states, it prints a timeline of the orchestration around the libvirt job
(medians, ms), from the migration's events and the agent's own log lines in migrator-all's
log: POST answered -> `running` recorded -> the agent has the request ("Starting live
migration") -> migrateToURI3 called (its return minus the duration the agent logs) ->
migrateToURI3 returned -> `finishing` -> `completed`. The job itself (the agent's
migrateToURI3) is then set against the bare call; what is left is the orchestration's own.

    .venv/bin/python -m benchmarks.overhead [-n 5] [--qemu-downtime] [--memory-mib M]
                                            [--dirty-rate MIB_S]
"""

import argparse
import collections
import datetime
import re
import statistics
import tempfile
import time

import libvirt

from migrator.compute.virt.libvirt import migration as libvirt_migration
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

FLAGS = libvirt_migration.LIVE_FLAGS | libvirt.VIR_MIGRATE_UNSAFE


JOB = 'migrateToURI3 called -> migrateToURI3 returned'
QEMU_DOWNTIME = {'max_downtime_ms': 300, 'downtime_steps': 1}


def through_api(api, name, target, controls=None):
    """Seconds from POST to `completed`: the POST's own latency plus the time between the
    migration's accepted and completed events (recorded by the service). The API is polled
    only 4 times a second: polling faster would take CPU from the guest and the job on 2
    cores, and so slow the very migration it measures."""
    started = time.monotonic()
    response = api.post('/v1/migrations', {'instance': name, 'target_host': target,
                                           **(controls or {})})
    posted = time.monotonic() - started
    assert response.status_code == 202, response.text
    done = api.wait_for_migration(response.json()['id'], interval=0.25)
    assert done['status'] == 'completed', done
    times = {e['to_state']: datetime.datetime.fromisoformat(e['time']) for e in done['events']}
    elapsed = posted + (times['completed'] - times['accepted']).total_seconds()
    return elapsed, phases(done['events']), done


_LOG_TIME = r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) '


def _log_time(text):
    return datetime.datetime.strptime(text, '%Y-%m-%d %H:%M:%S.%f').replace(
        tzinfo=datetime.UTC)


def timeline(log_path, migration, uuid):
    """ms between the steps around the job (module docstring), or None when the agent's
    lines are not in the log. Log times are the machine's (UTC here), to the millisecond."""
    with open(log_path, errors='replace') as f:
        text = f.read()
    got = re.findall(_LOG_TIME + r'.*Starting live migration ' + re.escape(migration['id']),
                     text, re.M)
    ret = re.findall(_LOG_TIME + r'.*migrateToURI3 of ' + re.escape(uuid)
                     + r' returned after ([\d.]+)s', text, re.M)
    if not got or not ret:
        return None
    events = {e['to_state']: datetime.datetime.fromisoformat(e['time'])
              for e in migration['events']}
    received = _log_time(got[-1])
    returned = _log_time(ret[-1][0])
    called = returned - datetime.timedelta(seconds=float(ret[-1][1]))
    marks = [('accepted', events['accepted']), ('running', events['running']),
             ('agent has it', received), ('migrateToURI3 called', called),
             ('migrateToURI3 returned', returned), ('finishing', events['finishing']),
             ('completed', events['completed'])]
    return {f'{a} -> {b}': (tb - ta).total_seconds() * 1000
            for (a, ta), (b, tb) in zip(marks, marks[1:], strict=False)}


def phases(events):
    """Seconds spent in each state, from the migration's event history."""
    times = [(e['to_state'], datetime.datetime.fromisoformat(e['time'])) for e in events]
    return {state: (later - at).total_seconds()
            for (state, at), (_next, later) in zip(times, times[1:], strict=False)}


def bare(cluster, name, source, target):
    hosts = {h['name']: h for h in cluster['hosts']}
    conn = libvirt.open(hosts[source]['uri'])
    try:
        dom = conn.lookupByName(name)
        started = time.monotonic()
        dom.migrateToURI3(hosts[target]['uri'], {}, FLAGS)
        return time.monotonic() - started
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=5, help='migrations of each kind')
    parser.add_argument('--qemu-downtime', action='store_true',
                        help="ask for QEMU's downtime policy (300 ms, no steps), as the bare "
                             'call runs')
    parser.add_argument('--memory-mib', type=int,
                        help="the guest's memory (default: the sandbox's guest size); a larger "
                             'guest makes a longer job, as on a real host')
    parser.add_argument('--dirty-rate', type=int, metavar='MIB_S',
                        help="what the guest dirties (default: the sandbox's)")
    args = parser.parse_args()
    controls = QEMU_DOWNTIME if args.qemu_downtime else None
    work = tempfile.mkdtemp(prefix='migrator-bench-')
    state_dir = f'{work}/sandbox'
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    proc = None
    try:
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='shared',
                              memory_mib=args.memory_mib, dirty_rate_mib=args.dirty_rate)
        cluster = cluster_mod.load(state_dir)
        name = cluster['guests'][0]['name']
        proc, api = processes.start_migrator_all(work, state_dir)
        processes.wait_until(lambda: api.hosts_up(['sandbox-host1', 'sandbox-host2']), 60,
                             'both hosts')
        api_times, bare_times, outside = [], [], []
        in_state = collections.defaultdict(list)
        steps = collections.defaultdict(list)
        uuid = api.instance(name)['uuid']
        for _ in range(args.n):
            source = probe.running_host(name, cluster=cluster)['name']
            target = 'sandbox-host2' if source == 'sandbox-host1' else 'sandbox-host1'
            processes.wait_until(lambda s=source: (api.instance(name) or {}).get('host') == s,
                                 30, 'the API to see the guest where it runs')
            elapsed, spent, done = through_api(api, name, target, controls)
            api_times.append(elapsed)
            marks = timeline(f'{work}/all.log', done, uuid) or {}
            for step, ms in marks.items():
                steps[step].append(ms)
            if marks:
                outside.append(elapsed - marks[JOB] / 1000)
            for state, seconds in spent.items():
                in_state[state].append(seconds)
            bare_times.append(bare(cluster, name, target, source))
        api_median = statistics.median(api_times)
        bare_median = statistics.median(bare_times)
        print(f'through the API (POST -> completed): {[round(t, 3) for t in api_times]}')
        print(f'bare migrateToURI3:                   {[round(t, 3) for t in bare_times]}')
        print('median time in each state: ' + ', '.join(
            f'{state} {statistics.median(v) * 1000:.0f} ms' for state, v in in_state.items()))
        if steps:
            print('median timeline (ms): ' + ', '.join(
                f'{step} {statistics.median(v):.0f}' for step, v in steps.items()))
            job = statistics.median(steps[JOB])
            orchestration = statistics.median(outside)
            print(f'median agent migrateToURI3 {job / 1000:.3f} s against bare '
                  f'{bare_median:.3f} s; outside the job (each migration\'s end-to-end less '
                  f'its own job): median {orchestration * 1000:.0f} ms, range '
                  f'{min(outside) * 1000:.0f}-{max(outside) * 1000:.0f} ms')
            print(f'orchestration ratio (median bare + median outside the job) / median '
                  f'bare: {(bare_median + orchestration) / bare_median:.3f}')
        print(f'median end-to-end {api_median:.3f} s, median bare {bare_median:.3f} s, '
              f'ratio {api_median / bare_median:.3f}')
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
