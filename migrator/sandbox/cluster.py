"""The sandbox cluster: up, down, status, add-guest, and its JSON description.

``<state-dir>/cluster.json`` describes the cluster for services, tests and
benchmarks (read it with :func:`load`).  It records what was created and
where; where a guest runs *now* is libvirt's to say (:func:`status`,
:func:`migrator.sandbox.probe.where`).  It is rewritten after every step of
``up``, so ``down`` finds every daemon even after a crash half-way.
"""

import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import time

import libvirt

from migrator.sandbox import guest as guest_mod
from migrator.sandbox import guest_image, pki, preflight, probe, process
from migrator.sandbox import host as host_mod
from migrator.sandbox.errors import SandboxError

LOG = logging.getLogger(__name__)

DEFAULT_STATE_DIR = '/var/lib/migrator-sandbox'
STATE_DIR_ENV = 'MIGRATOR_SANDBOX_DIR'
MARKER = '.migrator-sandbox'
BOOT_TIMEOUT = {'qemu': 180.0, 'kvm': 60.0}
DEFAULTS = {'hosts': 3, 'guests_per_host': 1, 'memory_mib': 256, 'dirty_rate_mib': 4,
            'disks': 'shared', 'virt_type': 'qemu'}


def state_dir_of(state_dir=None):
    return os.path.abspath(state_dir or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def cluster_file(state_dir=None):
    return os.path.join(state_dir_of(state_dir), 'cluster.json')


def load(state_dir=None):
    """The cluster description written by ``up`` (SandboxError if there is none)."""
    path = cluster_file(state_dir)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise SandboxError(f'no sandbox in {state_dir_of(state_dir)} (no {path}); run '
                           f'`migrator-manage sandbox up` first') from None
    except ValueError as exc:
        raise SandboxError(f'{path} is not valid JSON: {exc}') from None


def save(cluster):
    path = cluster_file(cluster['state_dir'])
    with open(path + '.tmp', 'w') as f:
        json.dump(cluster, f, indent=2)
        f.write('\n')
    os.replace(path + '.tmp', path)


def live_pids(cluster):
    return [p for h in cluster.get('hosts', []) for p in [h.get('pid')]
            if p and process.belongs_to(p, h['root'])]


@contextlib.contextmanager
def _locked(state_dir):
    """Serialise up/down/add-guest on one state dir (flock on the directory)."""
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_state_dir(state_dir):
    real = os.path.realpath(state_dir)
    for inside, _sub in host_mod.BIND_DIRS:
        if real == inside or real.startswith(inside + '/') or inside.startswith(real + '/'):
            raise SandboxError(f'state dir {state_dir} overlaps {inside}, which every sandbox '
                               f'host mounts over; choose another --state-dir')
    if real == '/':
        raise SandboxError('the state dir cannot be /')


def _validate(hosts, guests_per_host, memory_mib, dirty_rate_mib, disks, virt_type):
    if not 1 <= hosts <= 32:
        raise SandboxError(f'--hosts must be between 1 and 32, not {hosts}')
    if guests_per_host < 0:
        raise SandboxError('--guests-per-host cannot be negative')
    if memory_mib < 96:
        raise SandboxError(f'--guest-memory {memory_mib} MiB is too small (96 MiB at least)')
    if dirty_rate_mib < 0:
        raise SandboxError('--dirty-rate cannot be negative')
    if disks not in ('shared', 'local'):
        raise SandboxError(f'--disks must be shared or local, not {disks!r}')
    preflight.check_virt_type(virt_type)


def up(hosts=3, guests_per_host=1, memory_mib=256, dirty_rate_mib=4, disks='shared',
       state_dir=None, virt_type='qemu', cache_dir=None, wait=True, tls=False):
    """Start the cluster; returns its description (also in cluster.json).

    tls: make a CA and host certificates (migrator.sandbox.pki) and have every daemon
    listen for qemu+tls:// too and its QEMUs take migration TLS credentials from them.

    On any failure everything started so far is stopped and the state dir removed.
    """
    preflight.check_root()
    state_dir = state_dir_of(state_dir)
    _check_state_dir(state_dir)
    _validate(hosts, guests_per_host, memory_mib, dirty_rate_mib, disks, virt_type)
    preflight.check_binaries(tls=tls)
    if os.path.exists(state_dir):
        if os.path.exists(cluster_file(state_dir)):
            try:
                old = load(state_dir)
            except SandboxError:
                old = {}
            if live_pids(old):
                raise SandboxError(f'sandbox already up in {state_dir}; run '
                                   f'`migrator-manage sandbox down` first')
        if os.path.exists(os.path.join(state_dir, MARKER)):
            LOG.warning('cleaning up what a previous sandbox left in %s', state_dir)
            down(state_dir)
        elif os.listdir(state_dir):
            raise SandboxError(f'state dir {state_dir} exists, is not empty and is not a '
                               f'sandbox; choose another --state-dir')
    addresses = [host_mod.host_address(i) for i in range(1, hosts + 1)]
    for address in addresses:
        preflight.check_address_free(address)
        if tls:
            preflight.check_address_free(address, host_mod.TLS_PORT)
    preflight.ensure_qemu_accounts()
    cache_dir = cache_dir or guest_image.DEFAULT_CACHE_DIR
    image = guest_image.ensure_image(cache_dir)

    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, MARKER), 'w') as f:
        f.write('state directory of a migrator sandbox; `migrator-manage sandbox down` '
                'removes it\n')
    shared_dir = os.path.join(state_dir, 'shared')
    os.makedirs(shared_dir, exist_ok=True)
    cluster = {
        'state_dir': state_dir,
        'virt_type': virt_type,
        'shared_dir': shared_dir,
        'cache_dir': cache_dir,
        'guest': {'kernel': image.kernel, 'initrd': image.initrd, 'memory_mib': memory_mib,
                  'dirty_rate_mib': dirty_rate_mib, 'disks': disks},
        'hosts': [],
        'guests': [],
        'ready': False,
        'tls': bool(tls),
    }
    started = time.monotonic()
    try:
        with _locked(state_dir):
            save(cluster)
            _start_hosts(cluster, hosts, cache_dir)
            for h in cluster['hosts']:
                for _k in range(guests_per_host):
                    _add_guest(cluster, h, memory_mib, dirty_rate_mib, disks, image)
            _refresh_shared_pools(cluster)
            if wait:
                _wait_booted(cluster, cluster['guests'])
            cluster['ready'] = True
            save(cluster)
    except BaseException as exc:
        LOG.error('sandbox up failed (%s); cleaning up', exc)
        with contextlib.suppress(Exception):
            down(state_dir)
        raise
    LOG.info('sandbox up in %.1f s: %d hosts, %d guests', time.monotonic() - started,
             len(cluster['hosts']), len(cluster['guests']))
    return cluster


def _start_hosts(cluster, count, cache_dir):
    pki_dir = None
    if cluster.get('tls'):
        # The CA key stays here, outside every host's namespace.
        pki_dir = os.path.join(cluster['state_dir'], 'pki')
        cluster['ca_cert'] = pki.make_ca(pki_dir)
    hosts = [host_mod.prepare(cluster['state_dir'], i, pki_dir=pki_dir)
             for i in range(1, count + 1)]
    cluster['hosts'].extend(hosts)
    save(cluster)
    # Without cached QEMU capabilities, let the first host probe them alone and
    # hand them to the others, rather than have every daemon probe at once.
    if host_mod.has_cached_capabilities(cache_dir):
        batches = [hosts]
    else:
        batches = [hosts[:1], hosts[1:]]
    try:
        for batch in batches:
            for h in batch:
                host_mod.seed_capabilities(h, cache_dir)
                host_mod.launch(h)
            deadline = time.monotonic() + host_mod.START_TIMEOUT
            for h in batch:
                conn = host_mod.wait_ready(h, deadline)
                save(cluster)
                try:
                    host_mod.ensure_pools(conn, cluster['shared_dir'])
                    host_mod.warm_up(conn, cluster['virt_type'])
                finally:
                    conn.close()
            if batch:
                host_mod.save_capabilities(batch[0], cache_dir)
    finally:
        # Pids known so far must be on disk whatever happens next.
        for h in hosts:
            h['pid'] = h['pid'] or process.read_pidfile(host_mod.pidfile(h))
        save(cluster)


def _next_guest_name(cluster, h):
    prefix = f'guest-{h["index"]}-'
    used = {g['name'] for g in cluster['guests']}
    k = 1
    while f'{prefix}{k}' in used:
        k += 1
    return f'{prefix}{k}'


def _add_guest(cluster, h, memory_mib, dirty_rate_mib, disks, image):
    name = _next_guest_name(cluster, h)
    conn = host_mod.connect(h)
    try:
        record = guest_mod.create(
            conn, h, name, image=image, state_dir=cluster['state_dir'],
            shared_dir=cluster['shared_dir'], memory_mib=memory_mib,
            dirty_rate_mib=dirty_rate_mib, disk_mode=disks, virt_type=cluster['virt_type'])
    except libvirt.libvirtError as exc:
        raise SandboxError(f'cannot start guest {name} on {h["name"]}: '
                           f'{exc.get_error_message()}') from None
    finally:
        conn.close()
    cluster['guests'].append(record)
    save(cluster)
    return record


def _refresh_shared_pools(cluster):
    for h in cluster['hosts']:
        conn = host_mod.connect(h)
        try:
            conn.storagePoolLookupByName('shared').refresh(0)
        finally:
            conn.close()


def _wait_booted(cluster, guests):
    timeout = BOOT_TIMEOUT[cluster['virt_type']]
    deadline = time.monotonic() + timeout
    for g in guests:
        try:
            probe.wait_for_tick(g['console_log'], 0, max(0.0, deadline - time.monotonic()))
        except SandboxError:
            hint = ('; nested KVM is known to hang guest boot here: use --virt-type qemu'
                    if cluster['virt_type'] == 'kvm' else '')
            raise SandboxError(f'guest {g["name"]} did not boot (no tick on its serial '
                               f'console within {timeout:.0f} s){hint}') from None


def add_guest(state_dir=None, host=None, memory_mib=None, dirty_rate_mib=None, disks=None,
              wait=True):
    """Define and start one more guest; returns its record (also in cluster.json)."""
    preflight.check_root()
    cluster = load(state_dir)
    if not live_pids(cluster):
        raise SandboxError(f'the sandbox in {cluster["state_dir"]} is not running')
    defaults = cluster['guest']
    memory_mib = memory_mib or defaults['memory_mib']
    dirty_rate_mib = defaults['dirty_rate_mib'] if dirty_rate_mib is None else dirty_rate_mib
    disks = disks or defaults.get('disks', 'shared')
    _validate(1, 1, memory_mib, dirty_rate_mib, disks, cluster['virt_type'])
    with _locked(cluster['state_dir']):
        cluster = load(state_dir)
        if host is None:    # the host with the fewest guests running now
            counts = {h['name']: 0 for h in cluster['hosts']}
            for g in cluster['guests']:
                for name in probe.where(g['name'], cluster):
                    counts[name] = counts.get(name, 0) + 1
            host = min(counts, key=lambda n: (counts[n], n))
        matches = [h for h in cluster['hosts'] if h['name'] == host]
        if not matches:
            raise SandboxError(f'no host {host!r} in the sandbox '
                               f'({", ".join(h["name"] for h in cluster["hosts"])})')
        image = guest_image.GuestImage(defaults['kernel'], defaults['initrd'])
        record = _add_guest(cluster, matches[0], memory_mib, dirty_rate_mib, disks, image)
        _refresh_shared_pools(cluster)
    if wait:
        _wait_booted(cluster, [record])
    return record


def restart_libvirtd(state_dir, host, stop_timeout=90.0, between=None):
    """Restarts one host's libvirtd the way an operator would: SIGTERM to the daemon's pid
    (SIGKILL after stop_timeout), then started again as `up` starts it. Its guests' QEMUs
    are left alone: the new daemon takes them back. between(): called once the old daemon
    is gone, before the new one starts (a test looks at the cluster then).

    Returns {'stopped_s', 'started_s'}: seconds the old daemon took to exit, and the new
    one to answer."""
    cluster = load(state_dir)
    matches = [h for h in cluster['hosts'] if h['name'] == host]
    if not matches:
        raise SandboxError(f'no host {host!r} in the sandbox '
                           f'({", ".join(h["name"] for h in cluster["hosts"])})')
    h = matches[0]
    pid = h.get('pid') or process.read_pidfile(host_mod.pidfile(h))
    if not pid or not process.belongs_to(pid, h['root']):
        raise SandboxError(f'the libvirtd of {host} is not running')
    started = time.monotonic()
    left = process.terminate([pid], timeout=stop_timeout)
    if left:
        raise SandboxError(f'the libvirtd of {host} (pid {pid}) did not stop')
    stopped_s = time.monotonic() - started
    if between is not None:
        between()
    started = time.monotonic()
    with _locked(cluster['state_dir']):
        cluster = load(state_dir)
        h = next(x for x in cluster['hosts'] if x['name'] == host)
        h['pid'] = None
        with contextlib.suppress(FileNotFoundError):    # left behind by a SIGKILL
            os.unlink(host_mod.pidfile(h))
        host_mod.launch(h)
        try:
            host_mod.wait_ready(h, time.monotonic() + host_mod.START_TIMEOUT).close()
        finally:
            h['pid'] = h['pid'] or process.read_pidfile(host_mod.pidfile(h))
            save(cluster)
    return {'stopped_s': stopped_s, 'started_s': time.monotonic() - started}


STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: 'nostate', libvirt.VIR_DOMAIN_RUNNING: 'running',
    libvirt.VIR_DOMAIN_BLOCKED: 'blocked', libvirt.VIR_DOMAIN_PAUSED: 'paused',
    libvirt.VIR_DOMAIN_SHUTDOWN: 'shutdown', libvirt.VIR_DOMAIN_SHUTOFF: 'shutoff',
    libvirt.VIR_DOMAIN_CRASHED: 'crashed', libvirt.VIR_DOMAIN_PMSUSPENDED: 'pmsuspended',
}


def status(state_dir=None):
    """Hosts (up or down, by asking each daemon) and guests (where libvirt has them)."""
    cluster = load(state_dir)
    hosts, guests = [], {}
    for h in cluster['hosts']:
        entry = {'name': h['name'], 'address': h['address'], 'uri': h['uri'],
                 'pid': h.get('pid'), 'up': False}
        hosts.append(entry)
        if not process.pid_alive(h.get('pid')):
            continue
        try:
            conn = host_mod.connect(h, timeout=2.0)
        except SandboxError:
            continue
        entry['up'] = True
        try:
            for dom in conn.listAllDomains(0):
                state = STATE_NAMES.get(dom.state()[0], 'unknown')
                guests.setdefault(dom.name(), {})[h['name']] = state
        finally:
            conn.close()
    out = []
    for g in cluster['guests']:
        where = guests.pop(g['name'], {})
        out.append(_guest_status(g['name'], where, g['console_log']))
    for name, where in sorted(guests.items()):   # defined by someone else
        out.append(_guest_status(name, where, None))
    return {'state_dir': cluster['state_dir'], 'hosts': hosts, 'guests': out}


def _guest_status(name, where, console_log):
    running = sorted(h for h, s in where.items() if s in ('running', 'paused', 'blocked'))
    return {'name': name, 'hosts': running, 'states': where,
            'tick': probe.latest_tick(console_log) if console_log else None}


def _sandbox_hosts(state_dir):
    """Host records from cluster.json, plus any host dir it does not mention."""
    try:
        hosts = load(state_dir).get('hosts', [])
    except SandboxError:
        hosts = []
    known = {h['name'] for h in hosts}
    hosts_dir = os.path.join(state_dir, 'hosts')
    if os.path.isdir(hosts_dir):
        for name in sorted(os.listdir(hosts_dir)):
            if name not in known:
                hosts.append({'name': name, 'root': os.path.join(hosts_dir, name),
                              'pid': None, 'uri': None})
    return hosts


def _mounts_under(path):
    real = os.path.realpath(path)
    found = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            point = line.split()[4].replace('\\040', ' ')
            if point == real or point.startswith(real + '/'):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def down(state_dir=None):
    """Stop every daemon and guest of the sandbox (by pid) and remove the state dir.

    Idempotent; works after a crash or a half-finished ``up``.  Keeps the guest
    image cache.  Returns {'stopped': [pids], 'removed': bool}.
    """
    preflight.check_root()
    state_dir = state_dir_of(state_dir)
    if not os.path.isdir(state_dir):
        return {'stopped': [], 'removed': False}
    if not (os.path.exists(os.path.join(state_dir, MARKER))
            or os.path.exists(cluster_file(state_dir))):
        raise SandboxError(f'{state_dir} does not look like a sandbox state dir; not touching it')
    stopped = []
    with _locked(state_dir):
        for h in _sandbox_hosts(state_dir):
            stopped += host_mod.sandbox_pids(h)
        if stopped:
            LOG.info('stopping sandbox pids %s', stopped)
        survivors = process.terminate(stopped)
        for point in _mounts_under(state_dir):
            LOG.warning('unmounting leftover %s', point)
            subprocess.run(['umount', '-l', point], capture_output=True)
        if survivors:
            raise SandboxError(f'pids {survivors} of the sandbox survived SIGKILL; '
                               f'{state_dir} left in place')
        shutil.rmtree(state_dir)
    LOG.info('sandbox in %s is down (stopped pids %s)', state_dir, stopped)
    return {'stopped': stopped, 'removed': True}

