"""Cold migration end to end: through migrator against the same steps done by hand.

Brings up a 2-host sandbox with one guest whose disk is in host1's private image directory
(nothing shared) and migrator-all (SQLite, in-process bus), then alternates, N times each:

  - through the API: POST /v1/migrations {"type": "cold"} until the API shows `completed`,
    taken from the migration's own record as benchmarks.overhead does (the POST's latency
    plus accepted -> completed), with the median time in each state;
  - bare: what an operator would do with virsh and nothing else, the guest moving back: the
    ACPI shutdown (`virsh shutdown`), waiting for it to be shut off, a sparse copy of its
    disk between the two daemons (vol-download -> vol-upload), define on the target, start,
    and the source's definition and disk removed.

Prints the runs, the medians and the ratio end-to-end / bare; and the shutdown alone (the
bare runs' ACPI shutdown -> shut off), which shows whether the sandbox guest obeys the power
button as a real guest does (a guest that ignores it costs the whole shutdown timeout).

    MIGRATOR_SANDBOX_NET=127.0.9 .venv/bin/python -m benchmarks.cold_migration [-n 5]
"""

import argparse
import datetime
import os
import statistics
import tempfile
import time

import libvirt

from benchmarks import overhead
from migrator import conf  # noqa: F401 - registers the options storage's checks read
from migrator.compute.virt.libvirt import disk_copy, events, storage
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import probe
from tests.functional.service import processes

SHUTDOWN_TIMEOUT = 120
BOOT_TIMEOUT = 180


def console_size(guest):
    try:
        return os.path.getsize(guest['console_log'])
    except FileNotFoundError:
        return 0


def wait_booted(guest, mark):
    """Until the guest's serial console shows a boot that began after `mark` (the log's size
    before the guest was stopped): MIGRATOR-READY comes once the power-button watcher runs,
    so the next ACPI shutdown is heard."""
    def booted():
        with open(guest['console_log'], 'rb') as f:
            data = f.read()
        return b'MIGRATOR-READY' in (data[mark:] if len(data) >= mark else data)
    processes.wait_until(booted, BOOT_TIMEOUT, f"{guest['name']} to boot", interval=0.2)


def through_api(api, name, target):
    started = time.monotonic()
    response = api.post('/v1/migrations', {'instance': name, 'target_host': target,
                                           'type': 'cold'})
    posted = time.monotonic() - started
    assert response.status_code == 202, response.text
    done = api.wait_for_migration(response.json()['id'], interval=0.25)
    assert done['status'] == 'completed', done
    times = {e['to_state']: datetime.datetime.fromisoformat(e['time']) for e in done['events']}
    return posted + (times['completed'] - times['accepted']).total_seconds(), \
        overhead.phases(done['events'])


def copy_volume(src_conn, dst_conn, path):
    """The sparse stream copy `virsh vol-download --sparse | vol-upload --sparse` does."""
    facts = disk_copy.volume_facts(disk_copy.lookup_volume(src_conn, path))
    dst_vol = disk_copy.create_volume(dst_conn, path, facts['physical'])
    src_vol = disk_copy.lookup_volume(src_conn, path, refresh=False)
    download, upload = src_conn.newStream(0), dst_conn.newStream(0)
    src_vol.download(download, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
    dst_vol.upload(upload, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
    while True:
        got = download.recvFlags(disk_copy.CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE)
        if got == -3:
            upload.sendHole(download.recvHole(0), 0)
            continue
        if not got:
            break
        upload.send(got)
    download.finish()
    upload.finish()


def bare(cluster, name, source, target):
    """(seconds for the whole move, {step: seconds}): the steps are the ACPI shutdown until
    shut off, the copy, the define and start, and the removal from the source, the bare
    counterparts of the states stopping, copying, starting and finishing."""
    hosts = {h['name']: h for h in cluster['hosts']}
    src_conn, dst_conn = libvirt.open(hosts[source]['uri']), libvirt.open(hosts[target]['uri'])
    try:
        dom = src_conn.lookupByName(name)
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        paths = [d['path'] for d in storage.domain_disks(dom)]
        started = time.monotonic()
        dom.shutdown()
        deadline = started + SHUTDOWN_TIMEOUT
        while dom.isActive():      # as `virsh domstate` in a loop: the bare reference
            if time.monotonic() > deadline:
                raise SystemExit(f'{name} ignored the ACPI shutdown for {SHUTDOWN_TIMEOUT}s')
            time.sleep(0.02)
        stopped = time.monotonic()
        for path in paths:
            copy_volume(src_conn, dst_conn, path)
        copied = time.monotonic()
        dst_conn.defineXML(xml).create()
        running = time.monotonic()
        dom.undefineFlags(0)
        for path in paths:
            disk_copy.delete_volume(src_conn, path)
        ended = time.monotonic()
        return ended - started, {'stopping': stopped - started, 'copying': copied - stopped,
                                 'starting': running - copied, 'finishing': ended - running}
    finally:
        src_conn.close()
        dst_conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=5, help='migrations of each kind')
    parser.add_argument('--bare-first', action='store_true',
                        help='the bare move first (host1 -> host2), then through the API '
                             'back: shows whether a difference is the host or migrator')
    args = parser.parse_args()
    events.start_event_loop()     # as in the agent: keep-alives on the copy's connections
    work = tempfile.mkdtemp(prefix='migrator-bench-coldmig-')
    state_dir = f'{work}/sandbox'
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    proc = None
    try:
        cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1', disks='local')
        cluster = cluster_mod.load(state_dir)
        guest = cluster['guests'][0]
        name = guest['name']
        proc, api = processes.start_migrator_all(work, state_dir)
        processes.wait_until(lambda: api.hosts_up(['sandbox-host1', 'sandbox-host2']), 60,
                             'both hosts')
        api_times, bare_times = [], []
        bare_steps = {}
        in_state = {}
        for _ in range(args.n):
            source = probe.running_host(name, cluster=cluster)['name']
            target = 'sandbox-host2' if source == 'sandbox-host1' else 'sandbox-host1'
            processes.wait_until(lambda s=source: (api.instance(name) or {}).get('host') == s,
                                 30, 'the API to see the guest where it runs')
            if args.bare_first:
                mark = console_size(guest)
                whole, steps = bare(cluster, name, source, target)
                wait_booted(guest, mark)
                processes.wait_until(
                    lambda t=target: (api.instance(name) or {}).get('host') == t,
                    30, 'the API to see the guest where it runs')
                mark = console_size(guest)
                elapsed, spent = through_api(api, name, source)
                wait_booted(guest, mark)
            else:
                mark = console_size(guest)
                elapsed, spent = through_api(api, name, target)
                wait_booted(guest, mark)
                mark = console_size(guest)
                whole, steps = bare(cluster, name, target, source)
                wait_booted(guest, mark)
            api_times.append(elapsed)
            for state, seconds in spent.items():
                in_state.setdefault(state, []).append(seconds)
            bare_times.append(whole)
            for state, seconds in steps.items():
                bare_steps.setdefault(state, []).append(seconds)
            print(f'through the API {elapsed:.2f} s, bare {whole:.2f} s (' + ', '.join(
                f'{state} {seconds:.2f} s' for state, seconds in steps.items()) + ')',
                flush=True)
        api_median, bare_median = statistics.median(api_times), statistics.median(bare_times)
        print(f'through the API (POST -> completed): {[round(t, 2) for t in api_times]}')
        print(f'bare (shutdown, copy, define, start): {[round(t, 2) for t in bare_times]}')
        print('median time in each state: ' + ', '.join(
            f'{state} {statistics.median(v) * 1000:.0f} ms' for state, v in in_state.items()))
        print(f'median ACPI shutdown of the sandbox guest (bare runs): '
              f'{statistics.median(bare_steps["stopping"]):.2f} s')
        print('median per state, through the API against the bare step: ' + ', '.join(
            f'{state} {statistics.median(in_state.get(state, [0])) * 1000:.0f} / '
            f'{statistics.median(v) * 1000:.0f} ms' for state, v in bare_steps.items()))
        print(f'median end-to-end {api_median:.2f} s, median bare {bare_median:.2f} s, '
              f'ratio {api_median / bare_median:.3f}')
    finally:
        if proc is not None:
            proc.stop()
        cluster_mod.down(state_dir)


if __name__ == '__main__':
    main()
