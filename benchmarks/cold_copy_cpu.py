"""Where the cold copy's CPU goes: CPU seconds per process for the same image copied by
the cold migration's copy path and by QEMU's own cross-host copy.

Brings up a 2-host sandbox and the --data-mib image of benchmarks.cold_copy, then
alternates, N times each:

  - the copy job (disk_copy.DiskCopyJob in this process, as the target agent runs it):
    CPU of the source libvirtd, of the target libvirtd (each with the helper processes it
    reaped) and of this process (the agent's stream loop), read from /proc before and after;
  - `qemu-nbd` serving the image read-only on host1's address and `qemu-img convert` from
    that nbd:// URL into host2's image directory: the CPU of each of the two processes.

Prints wall time, CPU seconds per side and in all, and CPU per MiB. On a machine whose cores
are shared, a copy's speed follows the CPU it needs per byte: this is the figure a faster
data path has to lower.

    MIGRATOR_SANDBOX_NET=127.0.x .venv/bin/python -m benchmarks.cold_copy_cpu [-n 3]
"""

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import psutil

from benchmarks import cold_copy
from migrator import conf  # noqa: F401 - registers the options storage's checks read
from migrator.compute.virt.libvirt import events
from migrator.sandbox import cluster as cluster_mod

MIB = 1024 * 1024


def cpu_of(pid):
    """CPU seconds of a process and of the children it has reaped."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def libvirt_copy(cluster, path):
    daemons = [h['pid'] for h in cluster['hosts'][:2]]
    before = [cpu_of(p) for p in daemons] + [own_cpu()]
    elapsed, _sent = cold_copy.copy_once(cluster, path)
    after = [cpu_of(p) for p in daemons] + [own_cpu()]
    cold_copy.remove_copy(cluster, path)
    source, target, agent = (b - a for a, b in zip(before, after, strict=True))
    return {'wall': elapsed, 'source': source, 'target': target, 'agent': agent}


def wait_listening(address, port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f'qemu-nbd did not listen on {address}:{port}')


def qemu_copy(cluster, outside, port):
    source, target = cluster['hosts'][0], cluster['hosts'][1]
    dest = os.path.join(target['image_dir_outside'], 'nbd-copy.qcow2')
    # --persistent: the readiness probe's connection must not end the server.
    server = subprocess.Popen(['qemu-nbd', '--read-only', '--format=qcow2', '--persistent',
                               f'--bind={source["address"]}', f'--port={port}',
                               '--export-name=disk', outside])
    try:
        wait_listening(source['address'], port, time.monotonic() + 30)
        started = time.monotonic()
        client = subprocess.Popen(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                                   f'nbd://{source["address"]}:{port}/disk', dest])
        _pid, status, usage = os.wait4(client.pid, 0)
        client.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - started
        if client.returncode:
            raise SystemExit(f'qemu-img convert failed: {client.returncode}')
        served = cpu_of(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    os.unlink(dest)
    return {'wall': elapsed, 'source': served, 'target': usage.ru_utime + usage.ru_stime,
            'agent': 0.0}


def summary(label, runs, data):
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    total = med['source'] + med['target'] + med['agent']
    mib = data / MIB
    print(f'{label}: wall {med["wall"]:.2f} s ({mib / med["wall"]:.0f} MiB/s); CPU source '
          f'{med["source"]:.2f} s, target {med["target"]:.2f} s, agent {med["agent"]:.2f} s, '
          f'in all {total:.2f} s = {total / mib * 1000:.1f} ms per MiB')
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-n', type=int, default=3, help='runs of each')
    parser.add_argument('--data-mib', type=int, default=256,
                        help='MiB of data written into the 2 GiB image')
    args = parser.parse_args()
    events.start_event_loop()
    work = tempfile.mkdtemp(prefix='migrator-bench-coldcpu-')
    state_dir = os.path.join(work, 'sandbox')
    cluster_mod.up(hosts=2, guests_per_host=0, state_dir=state_dir)
    try:
        cluster = cluster_mod.load(state_dir)
        path, outside = cold_copy.make_disk(cluster, args.data_mib)
        data = os.stat(outside).st_blocks * 512
        with socket.socket() as sock:
            sock.bind((cluster['hosts'][0]['address'], 0))
            port = sock.getsockname()[1]
        libvirt_runs, qemu_runs = [], []
        for _ in range(args.n):
            libvirt_runs.append(libvirt_copy(cluster, path))
            qemu_runs.append(qemu_copy(cluster, outside, port))
            print(f'copy job {libvirt_runs[-1]}, qemu {qemu_runs[-1]}', flush=True)
        ours = summary('cold copy (libvirt volume streams)', libvirt_runs, data)
        theirs = summary("qemu-nbd -> qemu-img convert (TCP) ", qemu_runs, data)
        print(f'CPU per byte: the cold copy needs {ours / theirs:.2f}x what QEMU\'s path needs')
    finally:
        cluster_mod.down(state_dir)
        subprocess.run(['rm', '-rf', work], check=False)


if __name__ == '__main__':
    main()
