"""Cold-migration disk copy throughput, both data paths, against QEMU's own cross-host copy.

Brings up a 2-host sandbox, creates a 2 GiB qcow2 volume in host1's private image pool and
writes --data-mib MiB into it, then alternates, N times each:

- stream: the cold migration's libvirt path (the target agent's DiskCopyJob: sparse
  download from host1's libvirtd, sparse upload into host2's, through this process);
- nbd and nbd+TLS-PSK: the cold migration's nbd path ([compute] disk_copy_method = nbd):
  the source agent's Exporter (qemu-nbd on host1's address, in host1's mount namespace)
  and the target agent's NbdCopyJob (qemu-img convert into host2's image directory), with
  and without a per-migration TLS-PSK key;
- the baseline, QEMU's own cross-host copy: `qemu-nbd` exporting the image read-only on
  host1's address and `qemu-img convert` from that nbd:// URL into host2's image directory
  (plain; and with TLS-PSK, with the same GnuTLS priority as ours ([compute]
  disk_copy_tls_priority) for the encrypted ratio, and with QEMU's default priority);
- a local `qemu-img convert -O qcow2` of the same image file (memory speed: what no copy
  between two hosts reaches).

Throughput is the image's data (its allocation) over the time each took, from starting
the export (or the stream) to the copy on disk (not synced: as a copy ends). Every copy
starts after a sync, and each run takes the paths in another order. Prints the runs, the
medians, the load average along the way, and the ratios baseline / ours (target for nbd
>= 0.9).

    MIGRATOR_SANDBOX_NET=127.0.x .venv/bin/python -m benchmarks.cold_copy [-n 5] \
        [--data-mib 256]
"""

import argparse
import filecmp
import os
import secrets
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import libvirt

from migrator import conf  # registers the options storage's and the copy's checks read
from migrator.compute.virt.libvirt import (
    disk_copy,
    events,
    nbd_copy,
    nbd_export,
    psk_keys,
    tool_processes,
)
from migrator.sandbox import cluster as cluster_mod
from migrator.sandbox import guest as guest_mod

MIB = 1024 * 1024
VOLUME = 'bench-disk.qcow2'


def make_disk(cluster, data_mib):
    source = cluster['hosts'][0]
    conn = libvirt.open(source['uri'])
    try:
        path = guest_mod.create_disk(conn, 'default', 'bench-disk', size_gib=2)
    finally:
        conn.close()
    outside = os.path.join(source['image_dir_outside'], VOLUME)
    subprocess.run(['qemu-io', '-f', 'qcow2', outside, '-c',
                    f'write -P 0x5a 0 {data_mib}M'], check=True, capture_output=True)
    return path, outside


def copy_once(cluster, path):
    """Seconds the copy path took (prepare, stream, end), and the data bytes it sent."""
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    local = libvirt.open(target['uri'])
    done = threading.Event()
    outcome = {}

    def on_done(result):
        outcome.update(result)
        done.set()

    try:
        started = time.monotonic()
        job = disk_copy.DiskCopyJob('bench', source['uri'], local,
                                    [{'path': path, 'target_path': path}],
                                    lambda stats: None, on_done, interval=60)
        job.prepare()
        job.start()
        done.wait()
        elapsed = time.monotonic() - started
        if not outcome['success']:
            raise RuntimeError(outcome['error'])
        return elapsed, outcome['stats']['data_processed']
    finally:
        local.close()


def bare_stream_once(cluster, path, length):
    """Seconds a bare sparse download -> upload loop takes between the same two daemons:
    what libvirt's stream path costs by itself, without the copy job around it."""
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    src_conn, dst_conn = libvirt.open(source['uri']), libvirt.open(target['uri'])
    try:
        started = time.monotonic()
        src_vol = src_conn.storageVolLookupByPath(path)
        dst_vol = disk_copy.create_volume(dst_conn, path, length)
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
        return time.monotonic() - started
    finally:
        src_conn.close()
        dst_conn.close()


def remove_copy(cluster, path):
    conn = libvirt.open(cluster['hosts'][1]['uri'])
    try:
        disk_copy.delete_volume(conn, path)
    finally:
        conn.close()


def convert_once(outside, work):
    dest = os.path.join(work, 'converted.qcow2')
    started = time.monotonic()
    subprocess.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'qcow2', outside, dest],
                   check=True)
    elapsed = time.monotonic() - started
    os.unlink(dest)
    return elapsed


def nbd_copy_once(cluster, path, records_dir, key):
    """Seconds the nbd copy path took (exports started, copy made): the source agent's and
    the target agent's code, each running the tools in its host's namespace."""
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    local = libvirt.open(target['uri'])
    done = threading.Event()
    outcome = {}

    def on_done(result):
        outcome.update(result)
        done.set()

    exporter = nbd_export.Exporter(
        tool_processes.ProcessRecords(os.path.join(records_dir, 'source')),
        source['tool_wrapper'])
    try:
        started = time.monotonic()
        exports = exporter.export('bench', [path], source['address'], key, key is not None)
        job = nbd_copy.NbdCopyJob(
            'bench', exports, local, [{'path': path, 'target_path': path}], key,
            tool_processes.ProcessRecords(os.path.join(records_dir, 'target')),
            lambda stats: None, on_done, 60, wrapper=target['tool_wrapper'])
        job.prepare()
        job.start()
        done.wait()
        # As in a migration, the exports are stopped off the critical path (qemu-nbd
        # exits by itself once its client is done).
        elapsed = time.monotonic() - started
        if not outcome['success']:
            raise RuntimeError(outcome['error'])
        return elapsed
    finally:
        exporter.stop('bench')
        local.close()


def nbd_convert_once(cluster, outside, port, keys_dir=None, priority=None):
    """Seconds of `qemu-img convert` from an NBD export of the image on host1's address
    into host2's image directory: the same bytes crossing a socket, with QEMU's own tools
    at both ends and nothing of libvirt or migrator (keys_dir: TLS-PSK, both ends, with
    the GnuTLS priority string priority, None: QEMU's default)."""
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    dest = os.path.join(target['image_dir_outside'], 'nbd-copy.qcow2')
    pid_file = os.path.join(os.path.dirname(dest), 'bench-nbd.pid')
    server_tls, client_tls, client_opt = [], [], ''
    if keys_dir:
        server_tls = ['--object', psk_keys.object_arg(keys_dir, 'server', priority),
                      '--tls-creds=tls0']
        client_tls = ['--object', psk_keys.object_arg(keys_dir, 'client', priority)]
        client_opt = ',tls-creds=tls0'
    started = time.monotonic()
    # --fork returns once the export listens; without --persistent the server exits when
    # its one client disconnects.
    subprocess.run(['qemu-nbd', '--read-only', '--format=qcow2', '--fork',
                    f'--bind={source["address"]}', f'--port={port}', '--export-name=disk',
                    f'--pid-file={pid_file}', *server_tls, outside], check=True)
    with open(pid_file) as f:
        server = int(f.read())
    try:
        subprocess.run(['qemu-img', 'convert', *client_tls, '-O', 'qcow2', '--image-opts',
                        f'driver=nbd,host={source["address"]},port={port},export=disk'
                        f'{client_opt}', dest], check=True)
        elapsed = time.monotonic() - started
    finally:
        try:
            os.kill(server, signal.SIGTERM)   # normally gone already
        except ProcessLookupError:
            pass
        if os.path.exists(pid_file):
            os.unlink(pid_file)
    os.unlink(dest)
    return elapsed


def load_average():
    with open('/proc/loadavg') as f:
        return f.read().split()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=5, help='runs of each')
    parser.add_argument('--data-mib', type=int, default=256,
                        help='MiB of data written into the 2 GiB image')
    parser.add_argument('--bare', action='store_true',
                        help='also time a bare libvirt download -> upload loop (no copy job)')
    args = parser.parse_args()
    conf.CONF([], project='migrator', default_config_files=[], default_config_dirs=[])
    events.start_event_loop()     # as in the agent: keep-alives on the copy's connections
    work = tempfile.mkdtemp(prefix='migrator-bench-cold-')
    state_dir = os.path.join(work, 'sandbox')
    key = secrets.token_hex(32)
    keys_dir = psk_keys.write(os.path.join(work, 'baseline-tls'), key)
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    try:
        cluster = cluster_mod.load(state_dir)
        path, outside = make_disk(cluster, args.data_mib)
        data = os.stat(outside).st_blocks * 512
        target_outside = os.path.join(cluster['hosts'][1]['image_dir_outside'], VOLUME)

        # Warm-up, and a check of each copy.
        _elapsed, sent = copy_once(cluster, path)
        if not filecmp.cmp(outside, target_outside, shallow=False):
            raise SystemExit('the stream copy differs from the source image')
        remove_copy(cluster, path)
        for tls_key in (None, key):
            nbd_copy_once(cluster, path, work, tls_key)
            if subprocess.run(['qemu-img', 'compare', '-q', outside,
                               target_outside]).returncode != 0:
                raise SystemExit('the nbd copy differs from the source image')
            remove_copy(cluster, path)
        convert_once(outside, work)
        with socket.socket() as sock:
            sock.bind((cluster['hosts'][0]['address'], 0))
            port = sock.getsockname()[1]

        runs = {name: [] for name in ('stream', 'nbd', 'nbd_tls', 'qemu', 'qemu_tls',
                                      'qemu_tls_default', 'local', 'bare')}
        priority = conf.CONF.compute.disk_copy_tls_priority
        def stream():
            elapsed = copy_once(cluster, path)[0]
            remove_copy(cluster, path)
            return elapsed

        def ours(tls_key):
            elapsed = nbd_copy_once(cluster, path, work, tls_key)
            remove_copy(cluster, path)
            return elapsed

        def bare():
            elapsed = bare_stream_once(cluster, path, os.path.getsize(outside))
            remove_copy(cluster, path)
            return elapsed

        steps = [('stream', stream),
                 ('nbd', lambda: ours(None)),
                 ('qemu', lambda: nbd_convert_once(cluster, outside, port)),
                 ('nbd_tls', lambda: ours(key)),
                 ('qemu_tls', lambda: nbd_convert_once(cluster, outside, port, keys_dir,
                                                       priority)),
                 ('qemu_tls_default', lambda: nbd_convert_once(cluster, outside, port,
                                                               keys_dir)),
                 ('local', lambda: convert_once(outside, work))]
        if args.bare:
            steps.append(('bare', bare))
        loads = [load_average()]
        for run in range(args.n):
            # Each run in another order, each copy starting with the page cache written
            # back: no path always pays for the writeback of the one before it.
            for name, step in steps[run % len(steps):] + steps[:run % len(steps)]:
                os.sync()
                runs[name].append(step())
            loads.append(load_average())
        median = {name: statistics.median(times) for name, times in runs.items() if times}

        def rate(name):
            return data / median[name] / MIB

        print(f'image: 2 GiB qcow2, {data / MIB:.1f} MiB allocated ({sent / MIB:.1f} MiB of '
              f'data sent by the stream copy); {args.n} runs each; load average '
              f'{" -> ".join(loads)}')
        rows = [('stream', 'cold copy, libvirt volume streams', 'qemu'),
                ('nbd', 'cold copy, nbd', 'qemu'),
                ('nbd_tls', 'cold copy, nbd + TLS-PSK', 'qemu_tls'),
                ('qemu', 'qemu-nbd -> qemu-img convert (TCP)', None),
                ('qemu_tls', 'qemu-nbd -> qemu-img convert, TLS-PSK', None),
                ('qemu_tls_default', '  the same, QEMU\'s default TLS priority', None),
                ('local', 'local qemu-img convert -O qcow2', None),
                ('bare', 'bare libvirt stream loop', None)]
        for name, label, _ in rows:
            if name in median:
                print(f'{label:40} {[round(t, 3) for t in runs[name]]} s')
        print()
        print(f'{"path":40} {"median":>8} {"MiB/s":>7}  ratio to QEMU\'s own (same TLS)')
        for name, label, baseline in rows:
            if name not in median:
                continue
            ratio = f'{median[baseline] / median[name]:.3f}' if baseline else ''
            print(f'{label:40} {median[name]:7.3f}s {rate(name):7.0f}  {ratio}')
    finally:
        cluster_mod.down(state_dir)
        subprocess.run(['rm', '-rf', work], check=False)


if __name__ == '__main__':
    main()
