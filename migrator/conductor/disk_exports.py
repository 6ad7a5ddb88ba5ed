"""The conductor's side of the nbd disk copy of a cold migration: whether the copy is
encrypted, its key, and stopping the source's exports.

The conductor makes a fresh random 256-bit key for every migration and hands it to both
agents over RPC (the source's qemu-nbd and the target's qemu-img authenticate each other
and encrypt with it: TLS-PSK). The key is sent even when this conductor sees no reason to
encrypt, so that a source whose own settings demand encryption can use it; it is never
stored (not in the DB, not in a log) and is useless once the copy ends, as its exports.

Encrypted when either host reports a qemu+tls:// migration URI ([libvirt]
remote_transport = tls there) or this conductor's own [libvirt] settings encrypt
migration traffic; each agent also refuses a clear-text copy its own settings forbid.
"""

import secrets
import urllib.parse

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

TLS_SCHEME = 'qemu+tls'


def new_key():
    return secrets.token_hex(32)


def encrypt(*host_uris):
    if CONF.libvirt.remote_transport == 'tls' or CONF.libvirt.live_migration_with_native_tls:
        return True
    return any(urllib.parse.urlsplit(uri or '').scheme == TLS_SCHEME for uri in host_uris)


def stop_exports(ctxt, compute_api, host, migration_id):
    """Best effort: whatever is left of the migration's exports on host stops (an export
    no client ever reached would wait forever; the agent's next start stops it too)."""
    try:
        compute_api.stop_disk_exports(ctxt, host, migration_id)
    except exceptions.ServiceTooOld:
        pass        # an agent before 1.10 exported nothing
    except Exception:
        LOG.exception('Migration %s: could not stop the disk exports on %s', migration_id,
                      host)
