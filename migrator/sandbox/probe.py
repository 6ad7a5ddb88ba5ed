"""Probes for tests and benchmarks: where a guest runs, its ticks, disk markers.

* :func:`where` asks every host's libvirt which of them run a guest (libvirt is
  the truth, not cluster.json).
* :func:`latest_tick` / :func:`wait_for_tick` read the guest's serial console
  log (``MIGRATOR-TICK <n>`` once a second, shared by all hosts).
* :func:`write_marker` / :func:`read_disk` go through the running QEMU with the
  HMP ``qemu-io`` command.  QEMU 7.2 prints qemu-io's output on its stdout, not
  in the monitor reply, so the output is read back from the QEMU log file of
  the host that runs the guest (``<host root>/log/qemu/<name>.log``).
* :func:`read_disk_file` reads a disk image directly with ``qemu-io -r -U``
  (a shut-off guest, or a copy left behind on a source host).
* :func:`qmp_sent` reads the QMP commands libvirt sent to a host's QEMUs from the host's
  QMP log (sandboxes made with --tls keep one): how a migration's TLS was set up.
"""

import json
import os
import re
import subprocess
import time

import libvirt
import libvirt_qemu

from migrator.sandbox.errors import SandboxError

TICK_RE = re.compile(rb'MIGRATOR-TICK (\d+)')
MARKER_OFFSET = 1 << 20     # 1 MiB into the disk; the guest never touches its disk
MARKER_LENGTH = 4096
MARKER_PATTERN = 0x5a
_DUMP_RE = re.compile(r'^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} ?)+)', re.M)


def _cluster(cluster):
    if cluster is None:
        from migrator.sandbox import cluster as cluster_mod
        return cluster_mod.load()
    return cluster


def _guest(cluster, name):
    for guest in cluster['guests']:
        if guest['name'] == name:
            return guest
    raise SandboxError(f'no guest {name!r} in the sandbox')


def open_host(host):
    """A libvirt connection to a sandbox host (a dict of cluster['hosts'])."""
    return libvirt.open(host['uri'])


def where(name, cluster=None, active_only=True, executing_only=False):
    """Names of the hosts whose libvirt has guest ``name`` (running ones by default; with
    executing_only, not the paused ones either, such as a live migration's incoming copy)."""
    cluster = _cluster(cluster)
    found = []
    for host in cluster['hosts']:
        try:
            conn = open_host(host)
        except libvirt.libvirtError:
            continue
        try:
            dom = conn.lookupByName(name)
            if executing_only:
                if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                    found.append(host['name'])
            elif not active_only or dom.isActive():
                found.append(host['name'])
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return found


def running_host(name, cluster=None):
    """The one host running guest ``name``; SandboxError if none or several."""
    hosts = where(name, cluster)
    if len(hosts) != 1:
        raise SandboxError(f'guest {name} runs on {len(hosts)} hosts: {hosts}')
    return next(h for h in _cluster(cluster)['hosts'] if h['name'] == hosts[0])


def latest_tick(name_or_path, cluster=None):
    """The last ``MIGRATOR-TICK`` number in a guest's console log (None if none yet)."""
    path = name_or_path
    if not os.path.isabs(path):
        path = _guest(_cluster(cluster), name_or_path)['console_log']
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            ticks = TICK_RE.findall(f.read())
    except FileNotFoundError:
        return None
    return int(ticks[-1]) if ticks else None


def wait_for_tick(name_or_path, above=0, timeout=60.0, cluster=None):
    """Wait until the guest's latest tick is > ``above``; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        tick = latest_tick(name_or_path, cluster)
        if tick is not None and tick > above:
            return tick
        if time.monotonic() >= deadline:
            raise SandboxError(f'guest {name_or_path}: no tick above {above} in {timeout:.0f} s '
                               f'(last: {tick})')
        time.sleep(0.2)


def _qemu_log(host, name):
    return os.path.join(host['root'], 'log', 'qemu', f'{name}.log')


def _backend_qom_path(dom, target):
    """QOM path of the block backend of disk ``target`` (for ``qemu-io -d``)."""
    out = _hmp(dom, 'info block')
    blocks = re.split(r'\r?\n(?=\S)', out.strip())
    source = _disk_source(dom, target)
    for block in blocks:
        first = block.splitlines()[0]
        attached = re.search(r'Attached to:\s+(\S+)', block)
        if attached and (f': {source} (' in first or len(blocks) == 1):
            return attached.group(1)
    raise SandboxError(f'{dom.name()}: no block backend for disk {target}')


def _disk_source(dom, target):
    xml = dom.XMLDesc(0)
    for disk in re.findall(r'<disk .*?</disk>', xml, re.S):
        if f"dev='{target}'" in disk:
            src = re.search(r"<source (?:file|dev)='([^']+)'", disk)
            if src:
                return src.group(1)
    raise SandboxError(f'{dom.name()}: no disk {target}')


def _hmp(dom, command):
    return libvirt_qemu.qemuMonitorCommand(
        dom, command, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)


def qemu_io(name, command, target='vda', cluster=None, timeout=10.0):
    """Run a qemu-io ``command`` on a running guest's disk; returns its output."""
    cluster = _cluster(cluster)
    host = running_host(name, cluster)
    conn = open_host(host)
    try:
        dom = conn.lookupByName(name)
        qom = _backend_qom_path(dom, target)
        log = _qemu_log(host, name)
        start = os.path.getsize(log) if os.path.exists(log) else 0
        reply = _hmp(dom, f'qemu-io -d {qom} "{command}"')
    finally:
        conn.close()
    if reply.strip():       # errors come back in the reply, output does not
        raise SandboxError(f'{name}: qemu-io {command!r}: {reply.strip()}')
    deadline = time.monotonic() + timeout
    while True:
        with open(log, errors='replace') as f:
            f.seek(start)
            out = f.read()
        # every qemu-io read/write ends with its statistics line
        if re.search(r'\d+ ops; ', out) or 'failed' in out:
            return out
        if time.monotonic() >= deadline:
            raise SandboxError(f'{name}: no qemu-io output in {log}')
        time.sleep(0.05)


def write_marker(name, pattern=MARKER_PATTERN, offset=MARKER_OFFSET, length=MARKER_LENGTH,
                 target='vda', cluster=None):
    """Write ``length`` bytes of ``pattern`` at ``offset`` of a running guest's disk."""
    out = qemu_io(name, f'write -P {pattern:#x} {offset} {length}', target, cluster)
    if f'wrote {length}/{length} bytes' not in out:
        raise SandboxError(f'{name}: marker write failed: {out.strip()}')


def _parse_dump(out, length):
    data = bytes.fromhex(''.join(m.replace(' ', '') for m in _DUMP_RE.findall(out)))
    if len(data) != length:
        raise SandboxError(f'qemu-io read returned {len(data)} bytes, not {length}: {out!r}')
    return data


def read_disk(name, offset=MARKER_OFFSET, length=MARKER_LENGTH, target='vda', cluster=None):
    """``length`` bytes at ``offset`` of a running guest's disk, read by its QEMU."""
    return _parse_dump(qemu_io(name, f'read -v {offset} {length}', target, cluster), length)


def read_disk_file(path, offset=MARKER_OFFSET, length=MARKER_LENGTH, fmt='qcow2'):
    """``length`` bytes at ``offset`` of a disk image file (path as seen from here).

    Uses ``qemu-io -r -U`` (read-only, no lock), so it also works while a QEMU
    has the image open, but is only consistent for a stopped guest.
    """
    proc = subprocess.run(['qemu-io', '-r', '-U', '-f', fmt, path, '-c',
                           f'read -v {offset} {length}'], capture_output=True, text=True)
    if proc.returncode != 0 or 'read ' not in proc.stdout:
        raise SandboxError(f'qemu-io on {path} failed: {(proc.stderr or proc.stdout).strip()}')
    return _parse_dump(proc.stdout, length)


def has_marker(name, pattern=MARKER_PATTERN, offset=MARKER_OFFSET, length=MARKER_LENGTH,
               cluster=None):
    """True if the marker is on guest ``name``'s disk (read through QEMU)."""
    return read_disk(name, offset, length, cluster=cluster) == bytes([pattern]) * length


_QMP_SENT_RE = re.compile(r'QEMU_MONITOR_SEND_MSG: mon=\S+ msg=(\{.*\})\s*$')


def qmp_log_offset(host):
    """Where the host's QMP log (a sandbox made with --tls) ends now: for qmp_sent()."""
    path = host.get('qmp_log')
    if not path:
        raise SandboxError(f'{host["name"]} keeps no QMP log (a sandbox made with --tls does)')
    return os.path.getsize(path) if os.path.exists(path) else 0


def qmp_sent(host, start=0):
    """The QMP commands libvirt sent to the host's QEMUs since offset start, as parsed JSON
    ({'execute': ..., 'arguments': {...}}), oldest first."""
    commands = []
    qmp_log_offset(host)
    with open(host['qmp_log'], errors='replace') as f:
        f.seek(start)
        for line in f:
            found = _QMP_SENT_RE.search(line)
            if found:
                try:
                    commands.append(json.loads(found.group(1)))
                except ValueError:
                    continue
    return commands
