"""Before the source's copy of a guest is removed (its disks, its shut-off definition), the
source's own agent confirms that the guest is on the target, by reading the target's libvirt
daemon itself (compute 1.5 peer_domain_state, a read-only connection to the URI the target
registered, [libvirt] migration_uri). The target's agent saying so is not enough: anything
able to answer on that agent's queue could say it, and a source disk removed on a false word
is a guest lost."""

import oslo_messaging as messaging
from oslo_log import log as logging

from migrator.common import exceptions

LOG = logging.getLogger(__name__)


def confirmed_on_target(ctxt, db, compute_api, migration, active):
    """What the source's agent reads of the guest on the target's daemon ({'exists', 'active',
    'incoming', 'disks'}), or None unless it is there (running, when `active`) and not an
    incoming copy."""
    source, target, uuid = (migration['source_host'], migration['target_host'],
                            migration['instance_uuid'])
    try:
        peer_uri = db.host_get(target)['hypervisor_uri']
        seen = compute_api.peer_domain_state(ctxt, source, uuid, peer_uri)
    except (messaging.MessagingTimeout, exceptions.AgentUnavailable):
        raise   # the source's agent is not answering: the caller asks again or gives up
    except Exception as exc:   # noqa: BLE001 - unconfirmed, whatever the reason
        LOG.warning("Migration %s: %s could not look at %s on %s's libvirt daemon: %s",
                    migration['id'], source, uuid, target, exc)
        return None
    if not seen['exists'] or seen['incoming'] or (active and not seen['active']):
        LOG.warning("Migration %s: %s's libvirt daemon shows %s as %s, not as its agent said",
                    migration['id'], target, uuid, seen)
        return None
    return seen
