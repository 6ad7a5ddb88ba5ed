"""Cold-migration disk copy throughput against a plain `qemu-img convert` of the same disk.

Brings up a 2-host sandbox, creates a qcow2 volume in host1's private image pool and writes
--data-mib MiB into it, then alternates, N times each: the cold migration's copy path (the
target agent's DiskCopyJob: sparse download from host1's libvirtd, sparse upload into
host2's, through this process) and `qemu-img convert -O qcow2` of the same image file into
a new file on the same filesystem; and, to show where the time goes, a bare download ->
upload loop between the same daemons without the job around it, and the fastest plain
cross-host copy QEMU itself offers: `qemu-nbd` exporting the image read-only on host1's
address and `qemu-img convert` from that nbd:// URL into host2's image directory. Throughput
is the image's data (its allocation) over the time each took. Prints the runs, the medians,
the ratio copy / convert (target >= 0.8) and what any copy between two hosts reaches here.

    .venv/bin/python -m benchmarks.cold_copy [-n 5] [--data-mib 256]
"""

import argparse
import filecmp
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import libvirt

from migrator import conf  # noqa: F401 - registers the options storage's checks read
from migrator.compute.virt.libvirt import disk_copy, events
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


def nbd_convert_once(cluster, outside, port):
    """Seconds of `qemu-img convert` from an NBD export of the image on host1's address
    into host2's image directory: the same bytes crossing a socket, with QEMU's own tools
    at both ends and nothing of libvirt or migrator."""
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    dest = os.path.join(target['image_dir_outside'], 'nbd-copy.qcow2')
    pid_file = os.path.join(os.path.dirname(dest), 'bench-nbd.pid')
    started = time.monotonic()
    # --fork returns once the export listens; without --persistent the server exits when
    # its one client disconnects.
    subprocess.run(['qemu-nbd', '--read-only', '--format=qcow2', '--fork',
                    f'--bind={source["address"]}', f'--port={port}', '--export-name=disk',
                    f'--pid-file={pid_file}', outside], check=True)
    with open(pid_file) as f:
        server = int(f.read())
    try:
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                        f'nbd://{source["address"]}:{port}/disk', dest], check=True)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=5, help='runs of each')
    parser.add_argument('--data-mib', type=int, default=256,
                        help='MiB of data written into the 2 GiB image')
    args = parser.parse_args()
    events.start_event_loop()     # as in the agent: keep-alives on the copy's connections
    work = tempfile.mkdtemp(prefix='migrator-bench-cold-')
    state_dir = os.path.join(work, 'sandbox')
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    try:
        cluster = cluster_mod.load(state_dir)
        path, outside = make_disk(cluster, args.data_mib)
        data = os.stat(outside).st_blocks * 512

        elapsed, sent = copy_once(cluster, path)    # warm-up, and a check of the copy
        target_outside = os.path.join(cluster['hosts'][1]['image_dir_outside'], VOLUME)
        if not filecmp.cmp(outside, target_outside, shallow=False):
            raise SystemExit('the copy differs from the source image')
        remove_copy(cluster, path)
        convert_once(outside, work)
        with socket.socket() as sock:
            sock.bind((cluster['hosts'][0]['address'], 0))
            port = sock.getsockname()[1]

        copy_times, bare_times, convert_times, nbd_times = [], [], [], []
        for _ in range(args.n):
            copy_times.append(copy_once(cluster, path)[0])
            remove_copy(cluster, path)
            bare_times.append(bare_stream_once(cluster, path, os.path.getsize(outside)))
            remove_copy(cluster, path)
            convert_times.append(convert_once(outside, work))
            nbd_times.append(nbd_convert_once(cluster, outside, port))
        copy_median = statistics.median(copy_times)
        convert_median = statistics.median(convert_times)
        print(f'image: 2 GiB qcow2, {data / MIB:.1f} MiB allocated, {sent / MIB:.1f} MiB '
              f'of data sent by the copy (identical bytes on the target)')
        print(f'cold copy (libvirt volume streams): {[round(t, 3) for t in copy_times]} s')
        print(f'bare stream loop (no copy job):     {[round(t, 3) for t in bare_times]} s')
        print(f'qemu-img convert -O qcow2:          {[round(t, 3) for t in convert_times]} s')
        print(f'qemu-nbd -> qemu-img convert (TCP): {[round(t, 3) for t in nbd_times]} s')
        copy_rate = data / copy_median / MIB
        convert_rate = data / convert_median / MIB
        print(f'median cold copy {copy_median:.3f} s ({copy_rate:.0f} MiB/s), median '
              f'qemu-img convert {convert_median:.3f} s ({convert_rate:.0f} MiB/s), '
              f'throughput ratio copy/convert {copy_rate / convert_rate:.3f}')
        bare_median = statistics.median(bare_times)
        print(f'median bare stream loop {bare_median:.3f} s: the copy job takes '
              f'{copy_median / bare_median:.2f}x the bare libvirt stream path, which itself '
              f'reaches {convert_median / bare_median:.3f} of qemu-img convert')
        nbd_median = statistics.median(nbd_times)
        print(f'median qemu-nbd -> qemu-img convert over TCP {nbd_median:.3f} s: a copy '
              f'between two hosts with QEMU\'s own tools reaches '
              f'{convert_median / nbd_median:.3f} of the local convert; the cold copy '
              f'reaches {nbd_median / copy_median:.3f} of it')
    finally:
        cluster_mod.down(state_dir)
        subprocess.run(['rm', '-rf', work], check=False)


if __name__ == '__main__':
    main()
