"""Host drains and undrains: start one, bring a host back (and its guests), cancel."""

import dataclasses
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from migrator.api.service import handoff
from migrator.common import exceptions, notifications, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

CANCEL_REASON = 'cancelled by an operator'


@dataclasses.dataclass(frozen=True)
class Undrained:
    """What an undrain did: the host back in service, and the return job if guests go
    back to it."""

    host: dict
    guest_count: int
    job: dict | None


class DrainService:

    def __init__(self, db, conductor_api, ctxt):
        self.db = db
        self.conductor_api = conductor_api
        self.ctxt = ctxt

    def latest(self, host_name):
        """The host's newest job (a drain or a return); NoDrain when it never had one."""
        host = self.db.host_get(host_name)
        job = self.db.drain_latest(host['name'])
        if job is None:
            raise exceptions.NoDrain(host=host['name'])
        return job

    def start(self, host_name, mode, target_hosts=None, max_parallel=None):
        """Puts the host in maintenance and hands a drain of every guest on it to a
        conductor; returns the job."""
        host = self.db.host_get(host_name)
        name = host['name']
        if target_hosts is not None:
            target_hosts = [self.db.host_get(t)['name'] for t in target_hosts]
            if name in target_hosts:
                raise exceptions.Invalid(
                    f"field 'target_hosts' names '{name}', the host being drained; list "
                    'only the hosts the guests may go to')
        self._refuse_if_busy(name)
        job_id = str(uuid.uuid4())
        guests = self.db.instance_list(host=name)
        job = self.db.drain_create(
            {'id': job_id, 'kind': 'drain', 'host': name, 'mode': mode,
             'target_hosts': target_hosts,
             'max_parallel': max_parallel or CONF.drain.max_parallel},
            items=[{'instance_uuid': g['uuid'], 'instance_name': g['name'],
                    'source_host': name} for g in guests],
            host_status=('maintenance', f'drain {job_id}'))
        self._hand_over(job, undo=lambda: self.db.host_set_status(
            name, host['status'], host['status_reason']))
        LOG.info('Accepted drain %s of %s (%d guests, mode %s)', job_id, name, len(guests),
                 mode)
        return self.db.drain_get(job_id)

    def undrain(self, host_name, return_guests):
        """Puts the host back in service; with return_guests, hands a return of the guests
        its last drain moved (and that still run where it put them) to a conductor."""
        host = self.db.host_get(host_name)
        name = host['name']
        self._refuse_if_busy(name)
        returning, origin = [], None
        if return_guests:
            origin = self.db.drain_latest(name, kind='drain')
            returning = self._guests_to_return(origin) if origin else []
        notifications.undrain(name, 'start', ctxt=self.ctxt)
        host = self.db.host_set_status(name, 'enabled', None)
        guest_count = len(self.db.instance_list(host=name))
        if not returning:
            LOG.info('Host %s back in service; no guests to return', name)
            notifications.undrain(name, 'end', ctxt=self.ctxt)
            return Undrained(host=host, guest_count=guest_count, job=None)
        job = self.db.drain_create(
            {'kind': 'return', 'host': name, 'mode': origin['mode'],
             'max_parallel': origin['max_parallel'], 'origin_id': origin['id']},
            items=returning)
        self._hand_over(job)
        LOG.info('Host %s back in service; return %s brings back %d guests of drain %s',
                 name, job['id'], len(returning), origin['id'])
        return Undrained(host=host, guest_count=guest_count,
                         job=self.db.drain_get(job['id']))

    def cancel(self, job_id):
        """Cancels what has not started of a job; returns the job."""
        self.db.drain_get(job_id)
        job = self.db.drain_cancel(job_id, CANCEL_REASON)
        LOG.info('%s %s of %s: %s', job['kind'], job_id, job['host'], job['status'])
        return job

    def cancel_on_host(self, host_name):
        """Cancels the host's running drain or return."""
        host = self.db.host_get(host_name)
        active = self.db.drain_active(host['name'])
        if active is None:
            raise exceptions.Conflict(
                f"Host '{host['name']}' has no drain or return running; nothing to cancel.")
        return self.cancel(active['id'])

    def _refuse_if_busy(self, name):
        active = self.db.drain_active(name)
        if active is not None:
            raise exceptions.DrainInProgress(host=name, kind=active['kind'], id=active['id'],
                                             status=active['status'])

    def _hand_over(self, job, undo=None):
        """Casts the job; when that fails the job ends `failed` (so it does not hold the
        host) and undo() puts back what the request changed."""
        def mark_failed(exc):
            self.db.drain_transition(job['id'], [states.DRAIN_ACCEPTED], states.DRAIN_FAILED,
                                     values={'reason': handoff.unreachable_reason(exc)})
            if undo is not None:
                undo()

        handoff.hand_over(lambda: self.conductor_api.drain(self.ctxt, job['id']),
                          mark_failed, f"{job['kind']} {job['id']}")

    def _guests_to_return(self, origin):
        """The guests the drain moved that still run where it put them, with no migration
        in flight."""
        items = []
        for item in origin['items']:
            if item['status'] != states.DRAIN_ITEM_MOVED or not item['target_host']:
                continue
            try:
                instance = self.db.instance_get(item['instance_uuid'])
            except exceptions.InstanceNotFound:
                continue
            if instance['host'] != item['target_host'] or instance['migration_id']:
                continue
            items.append({'instance_uuid': instance['uuid'], 'instance_name': instance['name'],
                          'source_host': instance['host'], 'target_host': origin['host']})
        return items
