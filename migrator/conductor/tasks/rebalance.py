"""Rebalance plans in the conductor: planning from the DB's view of the cluster, and
applying a plan jobset by jobset through ordinary live migrations.

Planning reads hosts and instances from the DB (agents keep them current) and the last
observed dirty rate of each guest from its migrations, runs the greedy planner and records
the plan with its moves in state `planned`: nothing moves.

Applying (the API has already moved the plan to `applying`) starts the moves of one jobset
together, each as a live migration created like POST /v1/migrations does (the instance lock,
the scheduler's check of the target), waits until every one of them has ended, and only then
starts the next jobset. A move whose guest has moved since planning, has a migration in
flight or is gone, or whose target cannot take it now, is skipped with the reason; the others
go on. The plan ends `applied` when every move completed, `partial` when some did, `failed`
when none did.
"""

import datetime
import time

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, states, timeutils
from migrator.planner import search, settings, snapshot

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

GOALS = ('balance',)
# How many recent migrations are read for the guests' observed dirty rates.
HISTORY_LIMIT = 1000


def observed_dirty_rates(db):
    """{instance uuid: the dirty rate (bytes/s) of its most recent migration that had one}."""
    rates = {}
    for migration in db.migration_list(limit=HISTORY_LIMIT):
        if migration.get('dirty_rate') is not None:
            rates.setdefault(migration['instance_uuid'], float(migration['dirty_rate']))
    return rates


def is_up(host, now=None):
    """Whether the host's agent reported within [conductor] service_down_time."""
    heartbeat = host.get('last_heartbeat')
    if heartbeat is None:
        return False
    if heartbeat.tzinfo is not None:
        heartbeat = heartbeat.astimezone(datetime.UTC).replace(tzinfo=None)
    now = now or timeutils.utcnow()
    return (now - heartbeat).total_seconds() <= CONF.conductor.service_down_time


def cluster_from_db(db):
    hosts = db.host_list()
    up = {h['name']: is_up(h) for h in hosts}
    document = snapshot.document(hosts, db.instance_list(), up, observed_dirty_rates(db))
    try:
        return snapshot.parse(document)
    except snapshot.SnapshotError as exc:
        raise exceptions.Conflict(f'Cannot plan yet: {exc} (no host has reported its '
                                  'capacity?)') from None


def create_plan(db, goal='balance', max_moves=None, min_gain=None, max_parallel=None,
                conductor=None):
    """Plans from the DB's view of the cluster and records the plan; returns it."""
    if goal not in GOALS:
        raise exceptions.Invalid(f"goal '{goal}' is not one of {', '.join(GOALS)}")
    max_moves = max_moves or CONF.planner.default_max_moves
    min_gain = CONF.planner.default_min_gain if min_gain is None else min_gain
    cluster = cluster_from_db(db)
    plan = search.plan(cluster, max_moves=max_moves, min_gain=min_gain,
                       config=settings.score_config(CONF),
                       durations=settings.duration_model(CONF), max_parallel=max_parallel,
                       min_gain_limit=CONF.planner.min_gain_limit)
    LOG.info('Planned %d moves in %d jobsets (score %.4f -> %.4f) in %.2fs: %s',
             len(plan.moves), len(plan.jobsets()), plan.score_before.total,
             plan.score_after.total, plan.planning_seconds, plan.stop_detail)
    moves = [{'seq': m.seq, 'jobset': m.jobset, 'instance_uuid': m.instance_uuid,
              'instance_name': m.instance_name, 'source_host': m.source,
              'target_host': m.target, 'memory_mb': m.memory_mb, 'vcpus': m.vcpus,
              'disk_gb': m.disk_gb, 'gain': m.gain, 'score_after': m.score_after,
              'predicted_seconds': m.predicted_seconds} for m in plan.moves]
    return db.plan_create({
        'goal': goal, 'max_moves': max_moves, 'min_gain': min_gain,
        'score_before': plan.score_before.total, 'score_after': plan.score_after.total,
        'memory_spread_before': plan.score_before.memory_spread,
        'memory_spread_after': plan.score_after.memory_spread,
        'vcpu_spread_before': plan.score_before.vcpu_spread,
        'vcpu_spread_after': plan.score_after.vcpu_spread,
        'predicted_seconds': plan.predicted_seconds, 'jobsets': len(plan.jobsets()),
        'stop_reason': plan.stop_detail, 'truncated': plan.truncated,
        'remaining_gain': plan.remaining_gain, 'remaining_moves': plan.remaining_moves,
        'conductor': conductor}, moves)


class PlanApplier:
    """Runs one plan that is `applying`, jobset by jobset.

    start_migration(ctxt, migration_id) hands an accepted migration to a conductor (the
    conductor's own migrate()), so the moves go the way every migration goes.
    """

    def __init__(self, ctxt, db, start_migration, check_target, conductor=None,
                 generation=None):
        """conductor, generation: the owner that took the plan (migrator.db.queries.conductors);
        its transitions are fenced with them, and it stops starting moves once the plan
        is no longer its own."""
        self.owner = (conductor, generation) if generation is not None else None
        self.ctxt = ctxt
        self.db = db
        self.start_migration = start_migration
        # check_target(instance, host): raises (NoValidHost, ...) when host cannot take the
        # instance now; the scheduler's filters, claiming nothing.
        self.check_target = check_target
        self.conductor = conductor
        self.timeout = CONF.conductor.migration_timeout + 120
        self.interval = CONF.planner.apply_poll_interval

    def run(self, plan_id):
        if hasattr(self.ctxt, 'update_store'):
            self.ctxt.update_store()  # notifications name who asked
        try:
            self._run(plan_id)
        except exceptions.InvalidPlanTransition as exc:
            LOG.warning('Plan %s: not ended here: %s', plan_id, exc)
        except Exception as exc:
            LOG.exception('Applying plan %s failed', plan_id)
            try:
                self.db.plan_transition(plan_id, states.PLAN_APPLYING, states.PLAN_FAILED,
                                        {'error': f'applying stopped: {exc}',
                                         'conductor': self.conductor}, owner=self.owner)
            except exceptions.MigratorException:
                LOG.exception('Could not record the failure of plan %s', plan_id)

    def _run(self, plan_id):
        plan = self.db.plan_get(plan_id)
        jobsets = {}
        for move in plan['moves']:
            jobsets.setdefault(move['jobset'], []).append(move)
        for number in sorted(jobsets):
            if not self._still_ours(plan_id):
                return
            # Resumable: a plan adopted from a dead conductor (or after a restart) waits
            # for the moves that conductor started and starts only those still planned.
            started = [m for m in jobsets[number] if m['status'] == states.MOVE_RUNNING
                       or (m['status'] == states.MOVE_PLANNED and self._start(plan_id, m))]
            LOG.info('Plan %s: jobset %d runs %d of %d moves', plan_id, number,
                     len(started), len(jobsets[number]))
            self._wait(plan_id, started)
        moves = self.db.plan_get(plan_id)['moves']
        completed = sum(1 for m in moves if m['status'] == states.MOVE_COMPLETED)
        if completed == len(moves):
            end, error = states.PLAN_APPLIED, None
        else:
            end = states.PLAN_PARTIAL if completed else states.PLAN_FAILED
            error = f'{completed} of {len(moves)} moves completed; the moves say why not'
        self.db.plan_transition(plan_id, states.PLAN_APPLYING, end,
                                {'error': error, 'conductor': self.conductor},
                                owner=self.owner)
        LOG.info('Plan %s %s: %d of %d moves completed', plan_id, end, completed, len(moves))

    def _still_ours(self, plan_id):
        if self.owner is None or self.db.work_owner_is('plan', plan_id, *self.owner):
            return True
        LOG.warning('Plan %s was taken over by another conductor; stopping here', plan_id)
        return False

    def _skip(self, plan_id, move, reason):
        LOG.info('Plan %s: move %d of %s skipped: %s', plan_id, move['seq'],
                 move['instance_name'], reason)
        self.db.plan_move_transition(plan_id, move['seq'], states.MOVE_PLANNED,
                                     states.MOVE_SKIPPED, {'reason': reason})
        return False

    def _start(self, plan_id, move):
        """Starts the move's migration; False (and the move skipped) when it cannot go."""
        try:
            instance = self.db.instance_get(move['instance_uuid'])
        except exceptions.InstanceNotFound:
            return self._skip(plan_id, move, 'the instance no longer exists')
        if instance['host'] != move['source_host']:
            return self._skip(plan_id, move, f"the instance has moved since planning: it runs "
                                             f"on {instance['host']}, not {move['source_host']}")
        if instance.get('migration_id'):
            return self._skip(plan_id, move, f"the instance has a migration in flight "
                                             f"({instance['migration_id']})")
        try:
            self.check_target(instance, move['target_host'])
        except exceptions.MigratorException as exc:
            return self._skip(plan_id, move, f'the target cannot take it now: {exc}')
        try:
            migration = self.db.migration_create({
                'instance_uuid': instance['uuid'], 'instance_name': instance['name'],
                'type': 'live', 'source_host': instance['host'],
                'requested_target': move['target_host'], 'block_migration': None,
            }, detail=f"move {move['seq']} of plan {plan_id}")
        except exceptions.MigratorException as exc:
            return self._skip(plan_id, move, str(exc))
        self.db.plan_move_transition(plan_id, move['seq'], states.MOVE_PLANNED,
                                     states.MOVE_RUNNING, {'migration_id': migration['id']})
        move['migration_id'] = migration['id']
        try:
            self.start_migration(self.ctxt, migration['id'])
        except Exception as exc:  # noqa: BLE001 - recorded on the migration and the move
            LOG.exception('Plan %s: could not start migration %s', plan_id, migration['id'])
            try:
                self.db.migration_transition(
                    migration['id'], [states.ACCEPTED], states.FAILED,
                    detail=f'could not be started: {exc}', values={'error': str(exc)})
            except exceptions.MigratorException:
                pass
        return True

    def _wait(self, plan_id, moves):
        """Waits until every move's migration has ended and records the outcomes."""
        pending = {m['migration_id']: m for m in moves}
        deadline = time.monotonic() + self.timeout
        while pending:
            for migration_id, move in list(pending.items()):
                migration = self.db.migration_get(migration_id)
                status = migration['status']
                if status not in states.TERMINAL:
                    continue
                del pending[migration_id]
                if status == states.COMPLETED:
                    self.db.plan_move_transition(plan_id, move['seq'], states.MOVE_RUNNING,
                                                 states.MOVE_COMPLETED)
                else:
                    self.db.plan_move_transition(
                        plan_id, move['seq'], states.MOVE_RUNNING, states.MOVE_FAILED,
                        {'reason': f"migration {status}: {migration.get('error') or ''}"
                                   .rstrip(': ')})
            if not pending:
                return
            if time.monotonic() > deadline:
                for migration_id, move in pending.items():
                    self.db.plan_move_transition(
                        plan_id, move['seq'], states.MOVE_RUNNING, states.MOVE_FAILED,
                        {'reason': f'migration {migration_id} did not end within '
                                   f'{self.timeout}s'})
                return
            time.sleep(self.interval)
