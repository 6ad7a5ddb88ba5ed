"""What encrypting migration traffic costs: live migration with and without QEMU native TLS,
and the cold-migration disk copy over qemu+tls:// against qemu+tcp://.

Brings up a 2-host sandbox with --tls and one memory-dirtying guest on the shared disk.
Live: the same guest migrated back and forth with a bare migrateToURI3 and the driver's
flags (peer-to-peer, live, persist, undefine source, unsafe for the shared disk), the
variants interleaved so that the machine's load falls on each alike, N runs of each:
  plain      qemu+tcp peer-to-peer connection, QEMU stream in the clear (the baseline);
  native     + VIR_MIGRATE_TLS (live_migration_with_native_tls = true);
  native+p2p + the peer-to-peer connection over qemu+tls (remote_transport = tls as well).
Cold: a qcow2 volume with --data-mib MiB of random data on host1, pulled by the cold migration's
copy job (DiskCopyJob) into host2 over qemu+tcp and over qemu+tls (with host2's client
credentials), interleaved, N runs each. Prints the runs, the medians and the ratios against
the plain baselines.

    .venv/bin/python -m benchmarks.tls_migration [-n 5] [--data-mib 256]
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time

import libvirt

from migrator.compute.virt.libvirt import disk_copy, events, migration, remote
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import host as host_mod
from migrator.sandbox import probe

MIB = 1024 * 1024
VOLUME = 'bench-disk.qcow2'
LIVE_VARIANTS = ('plain', 'native', 'native+p2p')


def live_once(cluster, name, variant):
    """Seconds one migrateToURI3 of the guest to the other host took, and libvirt's
    statistics of the completed job as the target keeps them (time_elapsed, setup_time,
    downtime in ms; memory_bps)."""
    [here] = probe.where(name, cluster=cluster)
    source = next(h for h in cluster['hosts'] if h['name'] == here)
    target = next(h for h in cluster['hosts'] if h['name'] != here)
    flags = migration.LIVE_FLAGS | libvirt.VIR_MIGRATE_UNSAFE
    dest_uri = target['uri']
    if variant != 'plain':
        flags |= libvirt.VIR_MIGRATE_TLS
    if variant == 'native+p2p':
        dest_uri = remote.peer_uri(target['tls_uri'], 'tls', source['tls_pki_path'])
    conn = libvirt.open(source['uri'])
    try:
        dom = conn.lookupByName(name)
        started = time.monotonic()
        dom.migrateToURI3(dest_uri, {}, flags)
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    conn = libvirt.open(target['uri'])
    try:
        stats = conn.lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    finally:
        conn.close()
    return elapsed, stats


def make_disk(cluster, data_mib):
    """A qcow2 of data_mib MiB of random data (what a real disk holds looks like it to the
    cipher and to the wire) in host1's private image directory; its path as libvirt sees
    it, and outside."""
    source = cluster['hosts'][0]
    outside = os.path.join(source['image_dir_outside'], VOLUME)
    raw = outside + '.raw'
    with open(raw, 'wb') as f:
        for _ in range(data_mib):
            f.write(os.urandom(MIB))
    try:
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, outside],
                       check=True, capture_output=True)
    finally:
        os.unlink(raw)
    return os.path.join(host_mod.IMAGE_DIR, VOLUME), outside


def copy_once(cluster, path, over_tls):
    """Seconds the copy job took, and the data bytes it sent."""
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    source_uri = (remote.peer_uri(source['tls_uri'], 'tls', target['tls_pki_path'])
                  if over_tls else source['uri'])
    local = libvirt.open(target['uri'])
    done = threading.Event()
    outcome = {}

    def on_done(result):
        outcome.update(result)
        done.set()

    try:
        started = time.monotonic()
        job = disk_copy.DiskCopyJob('bench', source_uri, local,
                                    [{'path': path, 'target_path': path}],
                                    lambda stats: None, on_done, interval=60)
        job.prepare()
        job.start()
        done.wait()
        elapsed = time.monotonic() - started
        if not outcome['success']:
            raise RuntimeError(outcome['error'])
        disk_copy.delete_volume(local, path)
        return elapsed, outcome['stats']['data_processed']
    finally:
        local.close()


def _median(stats, key, unit=1):
    values = [s[key] / unit for s in stats if s.get(key) is not None]
    return f'{statistics.median(values):.0f}' if values else '?'


def _runs(times):
    return [round(t, 3) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=5, help='runs of each variant')
    parser.add_argument('--data-mib', type=int, default=256,
                        help='MiB of random data in the copied image')
    args = parser.parse_args()
    events.start_event_loop()
    work = tempfile.mkdtemp(prefix='migrator-bench-tls-')
    state_dir = os.path.join(work, 'sandbox')
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir, tls=True)
    try:
        guest = cluster_mod.add_guest(state_dir=state_dir, host='sandbox-host1',
                                      disks='shared')
        cluster = cluster_mod.load(state_dir)
        name = guest['name']
        live = {v: [] for v in LIVE_VARIANTS}
        jobs = {v: [] for v in LIVE_VARIANTS}
        for variant in LIVE_VARIANTS:          # warm-up: each path once
            live_once(cluster, name, variant)
        for _ in range(args.n):
            for variant in LIVE_VARIANTS:
                elapsed, stats = live_once(cluster, name, variant)
                live[variant].append(elapsed)
                jobs[variant].append(stats)

        path, outside = make_disk(cluster, args.data_mib)
        data = os.stat(outside).st_blocks * 512
        copies = {'tcp': [], 'tls': []}
        sent = copy_once(cluster, path, True)[1]     # warm-up
        for _ in range(args.n):
            for transport in ('tcp', 'tls'):
                copies[transport].append(copy_once(cluster, path, transport == 'tls')[0])

        print(f'live migration of a {guest["memory_mib"]} MiB TCG guest dirtying '
              f'{guest["dirty_rate_mib"]} MiB/s (shared disk), {args.n} runs each')
        base = statistics.median(live['plain'])
        for variant in LIVE_VARIANTS:
            med = statistics.median(live[variant])
            print(f'  {variant:<11} {_runs(live[variant])} s  median {med:.3f} s  '
                  f'ratio {med / base:.3f}')
            print(f'  {"":<11} libvirt job: median {_median(jobs[variant], "time_elapsed")} '
                  f'ms elapsed, {_median(jobs[variant], "setup_time")} ms setup, '
                  f'{_median(jobs[variant], "downtime")} ms downtime, '
                  f'{_median(jobs[variant], "memory_bps", MIB)} MiB/s, '
                  f'{_median(jobs[variant], "memory_processed", MIB)} MiB sent')
        print(f'cold copy of a qcow2 with {data / MIB:.1f} MiB allocated '
              f'({sent / MIB:.1f} MiB of data sent), {args.n} runs each')
        rates = {}
        for transport in ('tcp', 'tls'):
            med = statistics.median(copies[transport])
            rates[transport] = data / med / MIB
            print(f'  qemu+{transport} {_runs(copies[transport])} s  median {med:.3f} s  '
                  f'{rates[transport]:.0f} MiB/s')
        print(f'  throughput ratio tls/tcp {rates["tls"] / rates["tcp"]:.3f}')
    finally:
        cluster_mod.down(state_dir)
        os.rmdir(work)


if __name__ == '__main__':
    main()
