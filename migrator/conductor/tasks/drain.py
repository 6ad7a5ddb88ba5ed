"""A drain job: move every guest off a host, a few at a time, and say what became of each.

The same task runs an undrain's return job (kind `return`): its items name the host each
guest goes back to. Guests move through ordinary migrations, created the way
`POST /v1/migrations` creates them and started by this conductor's migrate(), so the
scheduler's filters and concurrency limits and every migration kind apply to them unchanged.

The job lives in the DB (drains, drain_items); this task only drives it, one look at a time:
  - a finished migration decides its item: `moved`, or — for `live_then_cold` after a live
    attempt failed — a cold attempt, or `failed` with the reason;
  - free slots (max_parallel) go to pending items, the guests expected to take longest
    first (so that short ones, not long ones, make the tail where fewer than max_parallel
    run);
  - when no item is left open the job ends `completed` (every guest left), `partial` (some
    could not, each with its reason) or `cancelled` (DELETE stopped what had not started).
A guest that cannot move never holds the others: its item fails and the next one starts.

Never hangs: each migration ends by itself ([conductor] migration_timeout ends a stuck libvirt
job); should its conductor vanish, the item fails after [drain] item_timeout. When its
conductor dies, another conductor (or this one, restarted) takes the job over from the DB and
carries on (conductor.drains); the job checks every few seconds that it is still its own.
"""

import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def first_kind(mode):
    return 'cold' if mode == 'cold' else 'live'


class DrainTask:
    def __init__(self, ctxt, db, conductor, drain, host=None):
        """conductor: the ConductorManager (select_destination, migrate)."""
        self.ctxt = ctxt
        self.db = db
        self.conductor = conductor
        self.drain = drain
        self.host = host or CONF.host
        # The generation the job was taken at: its transitions are fenced with it.
        self.generation = drain.get('generation')
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self._next_target = 0
        self._last_beat = 0.0
        self._expected = {}  # instance uuid -> expected seconds of its migration

    @property
    def id(self):
        return self.drain['id']

    # -- control, from other threads ---------------------------------------------------------

    def cancel(self, reason='cancelled by an operator'):
        """Cancel what has not started; the migrations already running finish, then the job
        ends `cancelled`. Returns the job."""
        drain = self.db.drain_cancel(self.id, reason)
        self.wakeup.set()
        return drain

    def stop(self):
        """Stop driving the job (conductor shutdown); it stays unfinished in the DB for a
        conductor to take over."""
        self.stopping.set()
        self.wakeup.set()

    # -- the loop ---------------------------------------------------------------------------

    def run(self):
        if hasattr(self.ctxt, 'update_store'):
            self.ctxt.update_store()  # notifications name who asked
        try:
            self.execute()
        except Exception:
            # The job stays in the DB; once its heartbeat is stale a conductor takes it over.
            LOG.exception('Drain %s: stopped driving it after an unexpected error', self.id)

    def execute(self):
        LOG.info('Drain %s (%s of %s, mode %s, max_parallel %s) driven by %s', self.id,
                 self.drain['kind'], self.drain['host'], self.drain['mode'],
                 self.drain['max_parallel'], self.host)
        if self.drain['kind'] == 'drain' and not self.drain['items']:
            self._add_guests_of_host()
        swept = False
        while not self.stopping.is_set():
            # Cleared before the look, so that a migration ending during it wakes the next.
            self.wakeup.clear()
            drain = self.db.drain_get(self.id)
            if drain['status'] not in (states.DRAIN_RUNNING, states.DRAIN_CANCELLING) or \
                    drain['conductor'] != self.host or \
                    drain.get('generation') != self.generation:
                LOG.info('Drain %s is %s (conductor %s): no longer ours to drive', self.id,
                         drain['status'], drain['conductor'])
                return
            self.drain = drain
            if not self._beat():
                return
            for item in drain['items']:
                if item['status'] == states.DRAIN_ITEM_RUNNING:
                    self._check_running(drain, item)
            drain = self.db.drain_get(self.id)
            if drain['status'] == states.DRAIN_RUNNING:
                self._fill_slots(drain)
                drain = self.db.drain_get(self.id)
            open_items = [i for i in drain['items']
                          if i['status'] not in states.DRAIN_ITEM_TERMINAL]
            if not open_items:
                # Guests that arrived while the drain began (a migration in flight to this
                # host) are swept once more before the job may end.
                if (drain['status'] == states.DRAIN_RUNNING and not swept
                        and drain['kind'] == 'drain'):
                    swept = True
                    if self._add_guests_of_host():
                        continue
                if self._finish(drain):
                    return
                continue
            # Woken when one of its migrations ends (conductor.drains); the interval is the
            # fallback for those another conductor drives.
            self.wakeup.wait(CONF.drain.poll_interval)

    def _beat(self):
        """Whether the job is still ours (looked at every heartbeat interval)."""
        now = time.monotonic()
        if now - self._last_beat < CONF.conductor.heartbeat_interval:
            return True
        self._last_beat = now
        if self.db.work_owner_is('drain', self.id, self.host, self.generation):
            return True
        LOG.warning('Drain %s was taken over by another conductor; stopping here', self.id)
        return False

    def _add_guests_of_host(self):
        known = {i['instance_uuid'] for i in self.db.drain_get(self.id)['items']}
        guests = [g for g in self.db.instance_list(host=self.drain['host'])
                  if g['uuid'] not in known]
        self.db.drain_items_add(self.id, [
            {'instance_uuid': g['uuid'], 'instance_name': g['name'],
             'source_host': self.drain['host']} for g in guests])
        if guests:
            LOG.info('Drain %s: %d guest(s) to move off %s: %s', self.id, len(guests),
                     self.drain['host'], ', '.join(g['name'] for g in guests))
        return len(guests)

    def _finish(self, drain):
        if drain['status'] == states.DRAIN_CANCELLING:
            end = states.DRAIN_CANCELLED
        elif all(i['status'] in states.DRAIN_ITEM_SUCCESS for i in drain['items']):
            end = states.DRAIN_COMPLETED
        else:
            end = states.DRAIN_PARTIAL
        counts = {}
        for item in drain['items']:
            counts[item['status']] = counts.get(item['status'], 0) + 1
        summary = ', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'no guests'
        try:
            self.db.drain_transition(self.id, [drain['status']], end, conductor=self.host,
                                     generation=self.generation,
                                     values={'reason': drain.get('reason') or summary})
        except exceptions.InvalidDrainTransition:
            return False  # cancelled meanwhile: look again
        LOG.info('Drain %s ended %s: %s', self.id, end, summary)
        return True

    # -- one item ---------------------------------------------------------------------------

    def _fill_slots(self, drain):
        running = sum(1 for i in drain['items'] if i['status'] == states.DRAIN_ITEM_RUNNING)
        pending = [i for i in drain['items'] if i['status'] == states.DRAIN_ITEM_PENDING]
        for item in self._longest_first(pending):
            if running >= drain['max_parallel'] or self.stopping.is_set():
                return
            if self._start(drain, item):
                running += 1

    def _longest_first(self, items):
        """The items, the guests expected to take longest first (ties in item order).

        With P slots the makespan ends with the last migrations running alone; starting the
        long ones first leaves short ones for that tail (longest-processing-time-first, the
        classic heuristic for P identical machines).
        """
        for item in items:
            if item['instance_uuid'] not in self._expected:
                self._expected[item['instance_uuid']] = self._expected_seconds(item)
        return sorted(items, key=lambda i: -self._expected[i['instance_uuid']])

    def _expected_seconds(self, item):
        """How long the guest's migration should take: its last completed live
        migration's duration when one was observed, else its memory over [planner]
        assumed_bandwidth_mib_s plus [planner] migration_overhead_seconds."""
        try:
            observed = self.db.observation_list(item['instance_uuid'], limit=1)
        except Exception:  # noqa: BLE001 - the order is a hint; the drain goes on without it
            LOG.exception('Drain %s: could not read what %s showed before', self.id,
                          item['instance_name'])
            observed = []
        if observed and observed[0].get('duration_seconds') is not None:
            return float(observed[0]['duration_seconds'])
        try:
            memory_mb = self.db.instance_get(item['instance_uuid']).get('memory_mb') or 0
        except exceptions.InstanceNotFound:
            return 0.0  # _start closes the item at once
        return (memory_mb / CONF.planner.assumed_bandwidth_mib_s
                + CONF.planner.migration_overhead_seconds)

    def _close(self, item, from_states, status, reason, **values):
        """Ends an item; False when it was not in from_states any more (cancelled)."""
        done = self.db.drain_item_update(item['id'], from_states,
                                         {'status': status, 'reason': reason, **values})
        if done:
            log = LOG.info if status in states.DRAIN_ITEM_SUCCESS else LOG.warning
            log('Drain %s: %s %s: %s', self.id, item['instance_name'], status, reason)
        return done

    def _start(self, drain, item):
        """Starts the item's first migration; True when one runs for it now."""
        try:
            instance = self.db.instance_get(item['instance_uuid'])
        except exceptions.InstanceNotFound:
            self._close(item, [states.DRAIN_ITEM_PENDING], states.DRAIN_ITEM_GONE,
                        'the instance no longer exists')
            return False
        if instance['host'] != item['source_host']:
            self._close(item, [states.DRAIN_ITEM_PENDING], states.DRAIN_ITEM_GONE,
                        f"already left {item['source_host']}: it runs on {instance['host']}")
            return False
        if instance['migration_id']:
            # Someone else's migration holds it: its end decides (it may take the guest
            # away); meanwhile the others go on. One that never ends fails the item.
            return self._wait_for_foreign(item, instance['migration_id'])
        return self._attempt(drain, item, instance, first_kind(drain['mode']),
                             [states.DRAIN_ITEM_PENDING], previous=None)

    def _wait_for_foreign(self, item, migration_id):
        try:
            since = self.db.migration_get(migration_id)['created_at']
        except exceptions.MigrationNotFound:
            return False  # it just ended; the next look starts the item
        if (utcnow() - since).total_seconds() > CONF.drain.item_timeout:
            self._close(item, [states.DRAIN_ITEM_PENDING], states.DRAIN_ITEM_FAILED,
                        f'migration {migration_id}, not started by this drain, holds the '
                        f'instance and did not end within {CONF.drain.item_timeout}s')
        return False

    def _attempt(self, drain, item, instance, kind, from_states, previous):
        """Tries to start a `kind` migration of the item's instance.

        previous: why the earlier attempt failed (for the reason of a cold retry). Returns
        True when a migration runs; otherwise the item is closed failed (or retried cold).
        """
        prefix = f'{previous}; ' if previous else ''
        refusal = self._refusal(drain, instance, kind)
        target = None
        if refusal is None:
            target, refusal = self._choose_target(drain, item, instance, kind)
        if refusal is not None:
            if kind == 'live' and drain['mode'] == 'live_then_cold':
                return self._attempt(drain, item, instance, 'cold', from_states,
                                     previous=f'{prefix}live: {refusal}')
            self._close(item, from_states, states.DRAIN_ITEM_FAILED, f'{prefix}{kind}: {refusal}')
            return False
        try:
            migration = self.db.migration_create({
                'instance_uuid': instance['uuid'], 'instance_name': instance['name'],
                'type': kind, 'source_host': instance['host'], 'requested_target': target,
                'block_migration': None}, detail=f'requested by {drain["kind"]} {self.id}')
        except exceptions.MigratorException as exc:
            self._close(item, from_states, states.DRAIN_ITEM_FAILED, f'{prefix}{kind}: {exc}')
            return False
        values = {'status': states.DRAIN_ITEM_RUNNING, 'migration_id': migration['id'],
                  'migration_type': kind, 'attempts': item['attempts'] + 1,
                  'started_at': migration['created_at'],
                  'reason': previous and f'{previous}; trying {kind}'}
        if not self.db.drain_item_update(item['id'], from_states, values):
            # Cancelled between our look and now: the migration must not run.
            self._fail_migration(migration['id'], f'{drain["kind"]} {self.id} was cancelled')
            return False
        item.update(values)
        try:
            self.conductor.migrate(self.ctxt, migration['id'])
        except Exception as exc:  # noqa: BLE001 - recorded on the migration and the item
            LOG.exception('Drain %s: could not start migration %s', self.id, migration['id'])
            self._fail_migration(migration['id'], f'could not start: {exc}')
        LOG.info('Drain %s: %s migration %s of %s from %s to %s', self.id, kind,
                 migration['id'], instance['name'], instance['host'], target or 'any host')
        return True

    def _refusal(self, drain, instance, kind):
        if kind == 'live' and instance.get('power_state') != 'running':
            return (f"the instance is {instance.get('power_state')}; live migration needs a "
                    'running guest (mode live_then_cold or cold moves it)')
        return None

    def _choose_target(self, drain, item, instance, kind):
        """(requested target or None, None) when the scheduler can place it now, else
        (None, the scheduler's reason)."""
        if drain['kind'] == 'return':
            candidates = [item['target_host']]
        elif drain['target_hosts']:
            # Rotate the start so that the guests spread over the allowed hosts.
            hosts = drain['target_hosts']
            start = self._next_target % len(hosts)
            candidates = hosts[start:] + hosts[:start]
            self._next_target += 1
        else:
            candidates = [None]
        reasons = []
        for candidate in candidates:
            try:
                self.conductor.select_destination(self.ctxt, instance['uuid'], kind, candidate)
            except exceptions.NoValidHost as exc:
                reasons.append(exc.kwargs.get('reason') or str(exc))
            except exceptions.MigratorException as exc:
                reasons.append(str(exc))
            else:
                return candidate, None
        return None, 'no host can take it: ' + ('; '.join(reasons) or 'no hosts are known')

    def _fail_migration(self, migration_id, reason):
        try:
            self.db.migration_transition(migration_id, [states.ACCEPTED], states.FAILED,
                                         detail=reason, values={'error': reason})
        except exceptions.MigratorException:
            LOG.warning('Drain %s: migration %s had already moved on', self.id, migration_id)

    def _check_running(self, drain, item):
        status = item.get('migration_status')
        if status is None or not states.is_terminal(status):
            started = item.get('started_at')
            if started is not None and status is not None:
                waited = (utcnow() - started).total_seconds()
                if waited > CONF.drain.item_timeout:
                    self._close(item, [states.DRAIN_ITEM_RUNNING], states.DRAIN_ITEM_FAILED,
                                f"migration {item['migration_id']} did not end within "
                                f"{CONF.drain.item_timeout}s ([drain] item_timeout); it is "
                                f"{status}: check its conductor")
            elif status is None:
                self._close(item, [states.DRAIN_ITEM_RUNNING], states.DRAIN_ITEM_FAILED,
                            f"migration {item['migration_id']} is not known")
            return
        kind = item['migration_type']
        previous = item.get('reason')
        prefix = f'{previous.rsplit("; trying", 1)[0]}; ' if previous else ''
        if status == states.COMPLETED:
            self._close(item, [states.DRAIN_ITEM_RUNNING], states.DRAIN_ITEM_MOVED,
                        f"{prefix}{kind} migration {item['migration_id']} completed",
                        target_host=item['migration_target_host'])
            return
        error = item.get('migration_error') or status
        if status == states.ERROR:
            self._close(item, [states.DRAIN_ITEM_RUNNING], states.DRAIN_ITEM_FAILED,
                        f"{prefix}{kind}: migration {item['migration_id']} ended in error "
                        f"({error}); an operator must check where the guest runs")
            return
        if (kind == 'live' and drain['mode'] == 'live_then_cold'
                and drain['status'] == states.DRAIN_RUNNING):
            try:
                instance = self.db.instance_get(item['instance_uuid'])
            except exceptions.InstanceNotFound:
                self._close(item, [states.DRAIN_ITEM_RUNNING], states.DRAIN_ITEM_GONE,
                            'the instance no longer exists')
                return
            self._attempt(drain, item, instance, 'cold', [states.DRAIN_ITEM_RUNNING],
                          previous=f'live: {error}')
            return
        self._close(item, [states.DRAIN_ITEM_RUNNING], states.DRAIN_ITEM_FAILED,
                    f'{prefix}{kind}: {error}')
