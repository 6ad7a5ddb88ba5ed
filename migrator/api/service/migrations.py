"""Migrations: create one (or only ask the scheduler, a dry run) and abort one."""

import dataclasses

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.api.service import handoff
from migrator.common import aborts, convergence, exceptions, kinds, notifications, states

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MigrationRequest:
    """A POST /v1/migrations body once normalised: what both the dry run and the real
    request hand to the conductor, so the two cannot disagree about it."""

    instance: str                   # name or uuid, as the client gave it
    type: str
    target_host: str | None
    # True (copy the disks), False (shared storage only) or None: "auto", the conductor
    # decides per disk. Never the string 'auto' (bool('auto') is true).
    block_migration: bool | None
    convergence: dict | None        # the effective controls of a live migration
    priority: int
    dry_run: bool
    forecast: bool = True           # a live dry run's convergence forecast wanted

    @classmethod
    def from_body(cls, body):
        """`body` has passed the MIGRATION_CREATE schema (defaults filled in); refuses the
        combinations the schema cannot express."""
        migration_type = body['type']
        block_migration = body['block_migration']
        kind = kinds.get(migration_type)
        if not kind.live and block_migration not in ('auto', None):
            raise exceptions.Invalid(
                "field 'block_migration' applies to live migrations only: a cold migration "
                "always copies the disks that are not on storage shared with the target; "
                "leave it out")
        if block_migration == 'auto':
            block_migration = None
        controls = None
        if kind.live:
            controls = convergence.effective(body)
        elif convergence.requested(body):
            raise exceptions.Invalid(
                f"fields {', '.join(sorted(convergence.requested(body)))} apply to live "
                f"migrations only, not {migration_type}")
        if body.get('forecast') is False and not (body['dry_run'] and kind.live):
            raise exceptions.Invalid("field 'forecast' applies to dry runs of live "
                                     'migrations only; leave it out')
        return cls(instance=body['instance'], type=migration_type,
                   target_host=body['target_host'], block_migration=block_migration,
                   convergence=controls, priority=body['priority'],
                   dry_run=bool(body['dry_run']), forecast=body.get('forecast', True))


@dataclasses.dataclass(frozen=True)
class Placement:
    """The instance a request moves and where from and to, read from the DB."""

    instance: dict
    source: str
    target: str | None              # the requested target's canonical name, if any


class MigrationService:

    def __init__(self, db, conductor_api, ctxt):
        self.db = db
        self.conductor_api = conductor_api
        self.ctxt = ctxt

    def _place(self, request):
        instance = self.db.instance_get(request.instance)
        source = instance.get('host')
        if not source:
            raise exceptions.Conflict(
                f"Instance '{request.instance}' has no host: nobody knows where it runs, so "
                f"it cannot be migrated. `migrator-manage instance show {instance['uuid']}` "
                "tells more.")
        target = request.target_host
        if target is not None:
            target = self.db.host_get(target)['name']
            if target == source:
                raise exceptions.SameHost(host=target, instance=instance['uuid'])
        return Placement(instance=instance, source=source, target=target)

    def _settle(self, request, placement):
        """The request with its live controls as the source's hypervisor runs them."""
        if request.convergence is None:
            return request
        source = self.db.host_get(placement.source)
        return dataclasses.replace(
            request, convergence=convergence.for_source(request.convergence, source))

    def dry_run(self, request):
        """What the scheduler would decide now, and why (and, for a live migration, the
        conductor's convergence forecast): a dry run's answer before the view shapes it.
        Nothing is created, claimed or moved.

        Figures the answer gains later (a forecast, say) are added to the returned dict
        here, from `request` and the scheduler's answer.
        """
        placement = self._place(request)
        request = self._settle(request, placement)
        # The controls go along for the conductor's convergence forecast of a live move;
        # without them it makes none (and measures nothing on the source).
        return self.conductor_api.schedule_dry_run(
            self.ctxt, placement.instance['uuid'], request.type,
            target_host=placement.target, block_migration=request.block_migration,
            controls=request.convergence if request.forecast else None)

    def create(self, request):
        """Creates the migration and hands it to a conductor; returns its record.

        The conductor's scheduler answers first whether the request can be placed, so a
        request without any room is refused now (naming the filter that refused it)
        instead of becoming a failed migration later.
        """
        placement = self._place(request)
        request = self._settle(request, placement)
        instance = placement.instance
        destination = self.conductor_api.select_destination(
            self.ctxt, instance['uuid'], request.type, target_host=placement.target,
            block_migration=request.block_migration)
        LOG.info('Instance %s (%s) on %s could go to %s now', instance['uuid'],
                 instance['name'], placement.source, destination)
        migration = self.db.migration_create({
            'instance_uuid': instance['uuid'],
            'instance_name': instance['name'],
            'type': request.type,
            'source_host': placement.source,
            'requested_target': placement.target,
            'block_migration': request.block_migration,
            'convergence': request.convergence,
            'priority': request.priority,
        })
        migration_id = migration['id']
        handoff.hand_over(
            lambda: self.conductor_api.migrate(self.ctxt, migration_id),
            lambda exc: self.db.migration_transition(
                migration_id, [states.ACCEPTED], states.FAILED,
                detail=f'the API could not hand the migration to a conductor: {exc}',
                values={'error': handoff.unreachable_reason(exc)}),
            f'migration {migration_id}')
        LOG.info('Accepted %s migration %s of instance %s from %s (requested target %s)',
                 request.type, migration_id, instance['uuid'], placement.source,
                 placement.target or 'any')
        return self.db.migration_get(migration_id)

    def abort(self, migration_ident):
        """Aborts a migration: it then ends `cancelled` (the instance stays on, or goes back
        to, its source host). Conflict once it cannot be aborted any more."""
        migration = self.db.migration_get(migration_ident)
        # Two rounds at most: an unstarted migration taken by a conductor meanwhile is
        # asked of that conductor in the second.
        for _attempt in range(2):
            refusal = aborts.refusal(migration)
            if refusal:
                raise exceptions.Conflict(refusal)
            if migration['status'] in aborts.UNSTARTED:
                try:
                    migration = self.db.migration_cancel_unstarted(migration['id'],
                                                                   aborts.API_REASON)
                    break
                except exceptions.InvalidStateTransition:
                    migration = self.db.migration_get(migration['id'])
                    continue
            migration = self._ask_conductor(migration)
            break
        LOG.info('Abort of migration %s accepted (%s)', migration['id'], migration['status'])
        notifications.migration_event('migration.abort', migration, self.ctxt,
                                      reason=aborts.API_REASON)
        return migration

    def _ask_conductor(self, migration):
        conductor = migration['conductor']
        if not conductor:
            raise exceptions.Conflict(
                f"Migration {migration['id']} is {migration['status']} but no conductor is "
                "recorded as running it; nothing was changed.")
        try:
            return self.conductor_api.abort_migration(self.ctxt, conductor, migration['id'],
                                                      aborts.API_REASON)
        except messaging.MessagingTimeout:
            raise exceptions.ConductorUnavailable(conductor=conductor, id=migration['id'],
                                                  timeout=CONF.api.rpc_timeout) from None
