"""The source side of the nbd disk copy: each disk of a shut-off guest exported read-only
by a qemu-nbd of its own, on this host's migration address.

One qemu-nbd per disk, each on the first free port of [compute] disk_export_port_min..max.
--fork makes qemu-nbd return only once it listens, so the target can connect as soon as
the conductor has the answer; without --persistent it serves one client and exits when
that client is done. It is still recorded (tool_processes) and stopped by pid at the end of
the copy, on rollback and abort, and at the next agent start: an export whose client never
came would wait forever.

qemu-nbd exports the guest-visible contents (it reads the qcow2), with block status, so
the target's qemu-img skips the holes and writes an image of the same format. It takes
QEMU's shared image lock: a disk some QEMU has open for writing (the guest runs again)
is refused.

With a key (TLS-PSK), the export refuses any client that does not present it; without
one, anyone who reaches the port may read the disk while the copy runs: only when
encryption is off everywhere (qemu_tools.encryption_required).
"""

import subprocess

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions
from migrator.compute.virt.libvirt import psk_keys, qemu_tools

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

EXPORT_NAME = 'disk'
START_TIMEOUT = 30.0
# What qemu-nbd says when its port is taken: the next one is tried.
_PORT_TAKEN = ('Address already in use', 'Failed to find an available port')


def port_range():
    low, high = CONF.compute.disk_export_port_min, CONF.compute.disk_export_port_max
    if high < low:
        raise exceptions.Invalid(f'[compute] disk_export_port_max ({high}) is below '
                                 f'disk_export_port_min ({low})')
    return range(low, high + 1)


def check_config():
    """Invalid naming the option, for the agent's start: oslo.config checks a choice only
    when the option is read, which would be the first cold migration."""
    try:
        method = CONF.compute.disk_copy_method
    except ValueError as exc:
        raise exceptions.Invalid(f'[compute] disk_copy_method: {exc}') from exc
    port_range()
    return method


def export_command(wrapper, path, fmt, address, port, pid_file, keys_dir):
    args = ['qemu-nbd', '--read-only', f'--format={fmt}', '--fork', f'--bind={address}',
            f'--port={port}', f'--export-name={EXPORT_NAME}', f'--pid-file={pid_file}']
    if keys_dir is not None:
        args += ['--object', psk_keys.object_arg(keys_dir, 'server',
                                                 CONF.compute.disk_copy_tls_priority),
                 '--tls-creds=tls0']
    return qemu_tools.command(wrapper, *args, path)


class Exporter:
    """Starts and stops the exports of this host (records: its ProcessRecords; wrapper:
    put before the tools' command lines, qemu_tools)."""

    def __init__(self, records, wrapper=None):
        self.records = records
        self.wrapper = wrapper

    def export(self, migration_id, paths, address, psk, encrypt):
        """Exports each of paths; {'address', 'tls', 'exports': [{'path', 'port', 'name',
        'format', 'virtual_size', 'allocation', 'create_options'}]}.

        encrypt: the conductor asks for TLS; this host's own settings may demand it too.
        Nothing is left running when it raises. Asked again for the same migration (an
        answer lost on the bus), the exports of the first call are stopped first."""
        ports = port_range()
        tls = bool(encrypt) or qemu_tools.encryption_required()
        if tls and not psk:
            raise exceptions.MigrationFailed(
                reason='this host encrypts migration traffic ([libvirt] remote_transport = '
                       'tls or live_migration_with_native_tls), but the conductor sent no '
                       'key for the disk copy; upgrade it')
        qemu_tools.check_installed(self.wrapper)
        self.records.stop(migration_id)
        keys_dir = None
        if tls:
            keys_dir = psk_keys.write(
                f'{self.records.migration_dir(migration_id, create=True)}/tls', psk)
        exports = []
        try:
            for index, path in enumerate(paths):
                info = qemu_tools.image_info(self.wrapper, path)
                if info['backing']:
                    raise exceptions.MigrationFailed(
                        reason=f"disk {path} has a backing file {info['backing']}; cold "
                               f"migration copies standalone images only")
                taken = {e['port'] for e in exports}
                port = self._start(migration_id, index, path, info['format'], address,
                                   [p for p in ports if p not in taken], keys_dir)
                exports.append({'path': path, 'port': port, 'name': EXPORT_NAME, **info})
        except BaseException:
            self.records.stop(migration_id)
            raise
        LOG.info('Migration %s: exporting %s on %s (%s)', migration_id,
                 {e['path']: e['port'] for e in exports}, address,
                 'TLS-PSK' if tls else 'unencrypted')
        return {'address': address, 'tls': tls, 'exports': exports}

    def _start(self, migration_id, index, path, fmt, address, ports, keys_dir):
        pid_file = self.records.pid_file(migration_id, f'export-{index}')
        last = None
        for port in ports:
            proc = subprocess.run(
                export_command(self.wrapper, path, fmt, address, port, pid_file, keys_dir),
                capture_output=True, text=True, timeout=START_TIMEOUT)
            if proc.returncode == 0:
                return port
            last = proc.stderr.strip() or f'exit status {proc.returncode}'
            if not any(taken in last for taken in _PORT_TAKEN):
                raise exceptions.MigrationFailed(
                    reason=f'qemu-nbd could not export {path} on {address}:{port}: {last}')
        raise exceptions.MigrationFailed(
            reason=f'no free port for the export of {path} on {address} in [compute] '
                   f'disk_export_port_min..max ({last})')

    def stop(self, migration_id):
        """Stops the migration's exports (gone already: nothing to do); removes their
        records and the key. The number that were still running."""
        return self.records.stop(migration_id)
