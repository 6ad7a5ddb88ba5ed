"""One sandbox host: a libvirtd in its own mount + UTS namespace.

Each host has private directories under ``<state-dir>/hosts/<name>/`` that are
bind-mounted (inside the namespace only) over libvirt's system directories, its
own hostname, host UUID and loopback address (host N listens on 127.0.0.(N+1):
127.0.0.1 is refused by libvirt as a migration address).  The network
namespace is the machine's, so the daemons, the QEMUs and the test process all
reach each other over loopback, and paths outside the bind mounts (the state
dir, the shared image dir, the console logs, the guest image cache) are the
same for everyone.
"""

import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from xml.sax.saxutils import escape

import libvirt

from migrator.sandbox import pki, process
from migrator.sandbox.errors import SandboxError

LOG = logging.getLogger(__name__)

# mount point inside the namespace -> sub-directory of the host's root
BIND_DIRS = (
    ('/run/libvirt', 'run'),
    ('/var/lib/libvirt', 'lib'),
    ('/etc/libvirt', 'etc'),
    ('/var/log/libvirt', 'log'),
    ('/var/cache/libvirt', 'cache'),
)
IMAGE_DIR = '/var/lib/libvirt/images'   # the `default` pool, as libvirt sees it
QMP_LOG = '/var/log/libvirt/qemu-monitor.log'   # with --tls only
START_TIMEOUT = 60.0

LIBVIRTD_CONF = '''\
# migrator sandbox host {name}
listen_tls = {listen_tls}
listen_tcp = 1
listen_addr = "{address}"
tcp_port = "16509"
auth_tcp = "none"
auth_unix_rw = "none"
host_uuid = "{host_uuid}"
'''
LOG_CONF = '''\
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
'''

QEMU_CONF = '''\
# migrator sandbox host {name}
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
migration_address = "{address}"
migration_host = "{address}"
'''

# With --tls: libvirtd also listens for qemu+tls:// (port 16514) with the host's server
# certificate, and QEMU takes its migration (and NBD) TLS credentials from the host's own
# directory; verify = 1 makes the target QEMU demand the source's client certificate.
LIBVIRTD_TLS_CONF = '''\
tls_port = "{tls_port}"
auth_tls = "none"
ca_file = "{libvirt_pki}/cacert.pem"
cert_file = "{libvirt_pki}/servercert.pem"
key_file = "{libvirt_pki}/serverkey.pem"
'''

# ... and libvirt's QMP exchanges with its QEMUs are kept in a log of their own: it is
# where one sees the migration get its TLS credentials (the tls-creds-x509 object and the
# tls-creds parameter are set through QMP, not on QEMU's command line).
LOG_TLS_CONF = f'''\
log_filters = "1:qemu.qemu_monitor"
log_outputs = "1:file:{QMP_LOG} 3:file:/var/log/libvirt/libvirtd.log"
'''

QEMU_TLS_CONF = '''\
default_tls_x509_cert_dir = "{qemu_pki}"
default_tls_x509_verify = 1
migrate_tls_x509_cert_dir = "{qemu_pki}"
migrate_tls_x509_verify = 1
'''
TLS_PORT = 16514


def host_name(index):
    return f'sandbox-host{index}'


# Two sandboxes can run side by side (say, two developers' test runs) when each takes its
# own loopback /24: MIGRATOR_SANDBOX_NET=127.0.5 puts host N on 127.0.5.(N+1).
NET_ENV = 'MIGRATOR_SANDBOX_NET'
DEFAULT_NET = '127.0.0'


def host_address(index):
    if not 1 <= index <= 253:
        raise SandboxError(f'host index {index} out of range (1..253)')
    net = os.environ.get(NET_ENV) or DEFAULT_NET
    parts = net.split('.')
    if len(parts) != 3 or parts[0] != '127' or not all(
            p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        raise SandboxError(f'{NET_ENV}={net!r} must be three octets of a loopback '
                           f'address, such as 127.0.5')
    return f'{net}.{index + 1}'


def host_uri(address):
    return f'qemu+tcp://{address}/system'


def host_tls_uri(address):
    return f'qemu+tls://{address}/system'


def outside(host, path):
    """Translate ``path`` as seen inside ``host``'s namespace to the outside."""
    for inside, sub in BIND_DIRS:
        if path == inside or path.startswith(inside + '/'):
            return os.path.join(host['root'], sub) + path[len(inside):]
    return path


def prepare(state_dir, index, pki_dir=None):
    """Create the host's directories and config files; return its record.

    With pki_dir (a CA made by :func:`migrator.sandbox.pki.make_ca`), the host gets its
    certificates and listens for TLS too (plain TCP stays on, for its agent and for
    comparisons); its record then has ``tls_uri`` and ``tls_pki_path`` (the outside path of
    its libvirt client credentials, for libvirt's ``pkipath`` URI parameter).
    """
    name = host_name(index)
    address = host_address(index)
    root = os.path.join(state_dir, 'hosts', name)
    for _inside, sub in BIND_DIRS:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    host = {
        'name': name,
        'index': index,
        'address': address,
        'uri': host_uri(address),
        'host_uuid': str(uuid.uuid4()),
        'pid': None,
        'root': root,
        'image_dir': IMAGE_DIR,
    }
    host['image_dir_outside'] = outside(host, IMAGE_DIR)
    os.makedirs(host['image_dir_outside'], exist_ok=True)
    host['tool_wrapper'] = write_tool_wrapper(host)
    libvirtd_conf = LIBVIRTD_CONF.format(listen_tls=int(pki_dir is not None), **host)
    qemu_conf = QEMU_CONF.format(**host)
    if pki_dir is not None:
        dirs = pki.install_host(pki_dir, host, outside)
        host['tls_uri'] = host_tls_uri(address)
        host['tls_pki_path'] = dirs['libvirt_dir']
        libvirtd_conf += LIBVIRTD_TLS_CONF.format(tls_port=TLS_PORT,
                                                  libvirt_pki=pki.LIBVIRT_PKI_DIR)
        libvirtd_conf += LOG_TLS_CONF
        host['qmp_log'] = outside(host, QMP_LOG)
        qemu_conf += QEMU_TLS_CONF.format(qemu_pki=pki.QEMU_PKI_DIR)
    else:
        libvirtd_conf += LOG_CONF
    etc = os.path.join(root, 'etc')
    with open(os.path.join(etc, 'libvirtd.conf'), 'w') as f:
        f.write(libvirtd_conf)
    with open(os.path.join(etc, 'qemu.conf'), 'w') as f:
        f.write(qemu_conf)
    return host


def write_tool_wrapper(host):
    """A script that runs a command in the host's mount namespace, where its libvirtd's
    paths are: an agent's [compute] disk_tool_wrapper (its qemu-nbd and qemu-img open the
    disks by the paths libvirt gives). It enters the namespace of the daemon running now,
    so it follows a libvirtd restart; exec keeps the pid, so the agent stops the tool by
    the pid it started."""
    path = os.path.join(host['root'], 'in-host')
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n'
                f'# Runs a command in the mount namespace of {host["name"]}\'s libvirtd.\n'
                f'exec nsenter --target "$(cat {shlex.quote(pidfile(host))})" --mount -- '
                f'"$@"\n')
    os.chmod(path, 0o755)
    return path


def agent_options(host):
    """The config sections of a compute agent of this host ([libvirt] and [compute])."""
    return {'libvirt': {'virt_type': 'qemu', 'connection_uri': host['uri']},
            'compute': {'disk_tool_wrapper': host['tool_wrapper']}}


def launch(host):
    """Start the host's libvirtd (returns at once; see :func:`wait_ready`)."""
    for inside, _sub in BIND_DIRS:   # mount points must exist
        os.makedirs(inside, exist_ok=True)
    mounts = '; '.join(f'mount --bind {shlex.quote(os.path.join(host["root"], sub))} {inside}'
                       for inside, sub in BIND_DIRS)
    script = (f'set -e; {mounts}; hostname {host["name"]}; '
              f'exec libvirtd --daemon --listen -p /run/libvirt/libvirtd.pid '
              f'-f /etc/libvirt/libvirtd.conf')
    # No --fork: unshare execs sh, which execs libvirtd, which daemonizes (so the
    # daemon is not our child); its real pid is read back from its pid file. The reaper
    # adopts the daemon and its QEMUs and reaps them as soon as they exit (see reaper).
    proc = subprocess.run(
        [sys.executable, '-m', 'migrator.sandbox.reaper',
         'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', script],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
    if proc.returncode != 0:
        raise SandboxError(f'cannot start libvirtd for {host["name"]}: '
                           f'{_last_line(proc.stderr) or f"exit {proc.returncode}"}')


def pidfile(host):
    return os.path.join(host['root'], 'run', 'libvirtd.pid')


def wait_ready(host, deadline):
    """Wait for the daemon's pid file and for it to answer; record its pid.

    Returns an open connection.  Fails early if the daemon died (libvirtd
    --daemon exits 0 even when its drivers fail to initialise).
    """
    pid = None
    last_error = None
    # libvirtd writes its pid file at once; without one it died early.
    no_pidfile_deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        pid = pid or process.read_pidfile(pidfile(host))
        if not pid and time.monotonic() > no_pidfile_deadline:
            break
        if pid:
            host['pid'] = pid
            if not process.pid_alive(pid):
                break
            try:
                conn = libvirt.open(host['uri'])
            except libvirt.libvirtError as exc:
                last_error = exc.get_error_message()
            else:
                LOG.info('%s: libvirtd pid %d answers on %s', host['name'], pid, host['uri'])
                return conn
        time.sleep(0.05)
    why = daemon_log_error(host) or last_error or 'no answer'
    state = 'died' if not pid or not process.pid_alive(pid) else 'did not answer in time'
    raise SandboxError(f'libvirtd of {host["name"]} {state}: {why}')


def daemon_log_error(host):
    """The last error line of the daemon's own log, if any."""
    path = os.path.join(host['root'], 'log', 'libvirtd.log')
    try:
        with open(path, errors='replace') as f:
            lines = [ln.strip() for ln in f if ' error : ' in ln]
    except OSError:
        return None
    return lines[-1].split(' error : ', 1)[1] if lines else None


def _last_line(text):
    lines = [ln for ln in (text or '').strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ''


def ensure_pools(conn, shared_dir):
    """A `dir` pool `default` over the private image dir, `shared` over the shared dir."""
    for name, path in (('default', IMAGE_DIR), ('shared', shared_dir)):
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            pool = conn.storagePoolDefineXML(
                f"<pool type='dir'><name>{escape(name)}</name>"
                f"<target><path>{escape(path)}</path></target></pool>", 0)
        if not pool.isActive():
            pool.build(0)
            pool.create(0)
        pool.setAutostart(1)


def connect(host, timeout=10.0):
    """Open a connection to a host's daemon, retrying until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return libvirt.open(host['uri'])
        except libvirt.libvirtError as exc:
            if time.monotonic() >= deadline:
                raise SandboxError(f'cannot connect to {host["name"]} at {host["uri"]}: '
                                   f'{exc.get_error_message()}') from None
            time.sleep(0.1)


def sandbox_pids(host):
    """Every live libvirtd/QEMU pid of this host (verified to be in its namespace).

    Sources: the recorded pid, the daemon's pid file, QEMU pid files under its
    /run/libvirt/qemu, and (after a crash that lost the pid files) any process
    whose /run/libvirt is this host's bind mount.
    """
    candidates = {host.get('pid'), process.read_pidfile(pidfile(host))}
    qemu_run = os.path.join(host['root'], 'run', 'qemu')
    if os.path.isdir(qemu_run):
        for entry in os.listdir(qemu_run):
            if entry.endswith('.pid'):
                candidates.add(process.read_pidfile(os.path.join(qemu_run, entry)))
    for entry in os.listdir('/proc'):
        if entry.isdigit() and process.exe_name(int(entry)) in process.SANDBOX_EXES:
            candidates.add(int(entry))
    return sorted(p for p in candidates if p and process.belongs_to(p, host['root']))


def stop(host, timeout=10.0):
    """Kill the host's QEMUs and libvirtd by pid.  Returns pids that survived.

    QEMU exits cleanly on SIGTERM (it is what virDomainDestroy sends first);
    libvirtd does not need its guests destroyed through the API to stop.
    """
    pids = sandbox_pids(host)
    if pids:
        LOG.info('%s: stopping pids %s', host['name'], pids)
    return process.terminate(pids, timeout=timeout)


CAPS_SUBDIR = os.path.join('qemu', 'capabilities')


def has_cached_capabilities(cache_dir):
    src = os.path.join(cache_dir, 'libvirt-capabilities')
    return os.path.isdir(src) and any(e.endswith('.xml') for e in os.listdir(src))


def seed_capabilities(host, cache_dir):
    """Copy cached QEMU capabilities into the host's /var/cache/libvirt.

    Every daemon would otherwise probe QEMU (seconds of CPU each, and the first
    migration to a host that never started a guest pays it: ~7 s instead of
    ~3 s).  libvirt re-probes by itself if the copy is stale (it checks the
    binaries' ctimes, the kernel and microcode versions).
    """
    src = os.path.join(cache_dir, 'libvirt-capabilities')
    if not os.path.isdir(src):
        return
    dest = os.path.join(host['root'], 'cache', CAPS_SUBDIR)
    os.makedirs(dest, exist_ok=True)
    for entry in os.listdir(src):
        if entry.endswith('.xml'):
            shutil.copy2(os.path.join(src, entry), os.path.join(dest, entry))


def save_capabilities(host, cache_dir):
    """Keep the host's probed QEMU capabilities for the next ``up``."""
    src = os.path.join(host['root'], 'cache', CAPS_SUBDIR)
    dest = os.path.join(cache_dir, 'libvirt-capabilities')
    if not os.path.isdir(src):
        return
    os.makedirs(dest, exist_ok=True)
    for entry in os.listdir(src):
        if entry.endswith('.xml'):
            tmp = os.path.join(dest, entry + '.tmp')
            shutil.copy2(os.path.join(src, entry), tmp)
            os.rename(tmp, os.path.join(dest, entry))


def warm_up(conn, virt_type):
    """Make the daemon load its QEMU capabilities now rather than mid-migration."""
    conn.getDomainCapabilities(None, 'x86_64', 'pc', virt_type, 0)
