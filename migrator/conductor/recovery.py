"""Settling adopted migrations: those a conductor drove before it stopped, when it starts
again, and those of a dead conductor, when a live one takes them over (takeover.py).

A conductor that dies mid-migration leaves its migrations in flight in the DB, holding their
slots and claims, while the hypervisors carry on without it: a peer-to-peer libvirt job keeps
running in the source's libvirtd. The conductor that adopts a migration (started again under
the same [DEFAULT] host, or any live one once the dead one's heartbeat is older than
[conductor] takeover_after) settles it from what the hypervisors say, several at once
([conductor] recovery_workers):

- accepted, queued: nothing to do; the queue starts them.
- scheduling: nothing has happened on any host yet; back to the queue.
- live: while the job still runs on the source, wait for its end (abort it first when the
  migration was being cancelled, or when it outlives [conductor] migration_timeout). Then:
  running on the target and gone from the source -> completed (a block migration's old disks
  removed from the source); running on the source and not on the target -> whatever the
  target holds of it removed, failed (cancelled when it was being cancelled); anything else
  -> error.
- cold: once the guest was started on the target (starting, finishing) and is there, forward:
  its definition and copied disks removed from the source, completed. Otherwise back: a copy
  still running is stopped and whatever it made on the target removed, a shutdown in
  progress is waited for, and a guest that ran before is started again on the source;
  failed (cancelled when it was being cancelled), or error when the source does not hold
  the guest as it should.

- Before anything of the source's is removed, the source's agent confirms through the
  target's libvirt daemon that the guest is there (source_check): the word of the target's
  agent alone never deletes a source disk.

Every step is a compare-and-swap from the state read and on the adopter's (conductor,
generation), so a migration an operator or another conductor moved meanwhile is left to them.
An agent that does not answer is asked again, with backoff, for up to [conductor]
agent_retry_limit seconds before the migration ends in `error`.
"""

import time

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging

from migrator.common import exceptions, kinds, states
from migrator.conductor import shared_storage, source_check
from migrator.conductor.disk_exports import stop_exports
from migrator.conductor.tasks.cold import ALREADY_SHUT_OFF

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

RESTARTED = 'the conductor restarted or was taken over while driving it'
POLL_SECONDS = 1.0        # how often a job that outlived the conductor is looked at
AGENT_RETRY_FIRST_DELAY = 1.0  # the first pause before asking a silent agent again
AGENT_RETRY_MAX_DELAY = 30.0   # the longest pause between two tries of a silent agent
ABORT_GRACE_SECONDS = 30  # how long an aborted job may take to end


class MigrationRecovery:
    def __init__(self, ctxt, db, compute_api, stopping=None):
        self.ctxt = ctxt
        self.db = db
        self.compute_api = compute_api
        self._stopping = stopping
        self._owners = {}   # migration id -> (conductor, generation) it is settled under

    def run(self, orphans, settling=None):
        """Settles each migration of `orphans` (unfinished, already taken by this conductor:
        their conductor and generation are ours), one after another; returns {id: the state
        it was left in}. settling: a set that holds the id of the migration being settled
        (an abort then only marks it cancelling)."""
        settled = {}
        for migration in orphans:
            if migration['status'] in (states.ACCEPTED, states.QUEUED):
                continue
            if settling is not None:
                settling.add(migration['id'])
            try:
                settled[migration['id']] = self.settle_adopted(migration)
            finally:
                if settling is not None:
                    settling.discard(migration['id'])
        return settled

    def settle_adopted(self, migration):
        """Settles one migration this conductor has taken; returns the state it was left
        in. Its transitions are fenced with the migration's conductor and generation."""
        self._owners[migration['id']] = (migration['conductor'], migration['generation'])
        limit = CONF.conductor.agent_retry_limit
        deadline = time.monotonic() + limit
        delay = AGENT_RETRY_FIRST_DELAY
        while True:
            try:
                return self._settle_until_stable(migration)
            except exceptions.WorkTakenOver as exc:
                LOG.warning('Migration %s: left to the conductor that took it over: %s',
                            migration['id'], exc)
                return self.db.migration_get(migration['id'])['status']
            except (messaging.MessagingTimeout, exceptions.AgentUnavailable,
                    exceptions.HypervisorError) as exc:
                # An agent that has just restarted answers that its hypervisor is not
                # connected yet: ask again, as when it does not answer at all.
                stopping = self._stopping is not None and self._stopping.is_set()
                if stopping or time.monotonic() + delay > deadline:
                    return self._end_in_error(
                        migration, f'{RESTARTED}, and a compute agent did not answer for '
                                   f'{limit}s ([conductor] agent_retry_limit): {exc}; check '
                                   'where the instance runs')
                LOG.warning('Migration %s: a compute agent does not answer (%s); asking '
                            'again in %.0fs', migration['id'], exc, delay)
                if self._stopping is not None:
                    self._stopping.wait(delay)
                else:
                    time.sleep(delay)
                delay = min(delay * 2, AGENT_RETRY_MAX_DELAY)
                migration = {**self.db.migration_get(migration['id']),
                             'conductor': migration['conductor'],
                             'generation': migration['generation']}
                if migration['status'] in states.TERMINAL:
                    return migration['status']
            except Exception:
                LOG.exception('Settling migration %s failed', migration['id'])
                try:
                    return self._end_in_error(migration, f'{RESTARTED}, and settling it '
                                                         'failed; check where the instance '
                                                         'runs')
                except exceptions.InvalidStateTransition:
                    return self.db.migration_get(migration['id'])['status']

    def _settle_until_stable(self, migration):
        """settle(), again from the state now when an operator's abort moved the
        migration to cancelling between our look and our step."""
        for _ in range(3):
            try:
                return self.settle(migration)
            except exceptions.WorkTakenOver:
                raise
            except exceptions.InvalidStateTransition as exc:
                migration = self.db.migration_get(migration['id'])
                LOG.info('Migration %s moved on meanwhile (%s); now %s', migration['id'], exc,
                         migration['status'])
                if migration['status'] in states.TERMINAL:
                    return migration['status']
        return self._end_in_error(migration, f'{RESTARTED}, and it kept changing while it '
                                             'was being settled')

    def settle(self, migration):
        LOG.info('Migration %s was %s when this conductor stopped; settling it',
                 migration['id'], migration['status'])
        if migration['status'] == states.SCHEDULING:
            self._walk(migration, [states.QUEUED], f'{RESTARTED} before a target was '
                                                   'prepared: back to the queue')
            return states.QUEUED
        return getattr(self, kinds.get(migration['type']).recovery)(migration)

    # -- live -------------------------------------------------------------------------------

    def _settle_live(self, migration):
        uuid, source, target = (migration['instance_uuid'], migration['source_host'],
                                migration['target_host'])
        if target is None:
            return self._end_in_error(migration, f'{RESTARTED}, before a target was recorded')
        if not self._wait_for_job(migration):
            return self._end_in_error(
                migration, f'{RESTARTED}; its libvirt job on {source} did not end')
        migration = self.db.migration_get(migration['id'])   # an abort may have come
        on_target, on_source = self._where(target, uuid), self._where(source, uuid)
        runs_on_target = bool(on_target and on_target['active'] and not on_target['incoming'])
        gone_from_source = bool(on_source and not on_source['exists'])
        runs_on_source = bool(on_source and on_source['active'])
        if runs_on_target and gone_from_source:
            return self._complete(migration, f'running on {target}; {RESTARTED}, and the '
                                             f'libvirt job completed without it'
                                  + self._remove_old_disks(migration))
        if runs_on_source and not runs_on_target:
            if on_target and on_target['exists']:
                self.compute_api.cleanup_incoming(self.ctxt, target, uuid)
            left = self._remove_target_disks(migration)
            return self._roll_back(migration, f'{RESTARTED}; the libvirt job did not '
                                              f'complete', left)
        return self._end_in_error(migration, f'{RESTARTED}; after its libvirt job, on '
                                             f'{target}: {on_target}; on {source}: '
                                             f'{on_source}')

    def _wait_for_job(self, migration):
        """Waits for the source's job of the instance to end; False when it would not."""
        source, uuid = migration['source_host'], migration['instance_uuid']
        if migration['status'] == states.CANCELLING:
            self._abort_job(migration)
        deadline = time.monotonic() + CONF.conductor.migration_timeout
        aborted = migration['status'] == states.CANCELLING
        while self.compute_api.migration_job_active(self.ctxt, source, uuid):
            if self._stopping is not None and self._stopping.is_set():
                return False
            if not aborted and self.db.migration_get(
                    migration['id'])['status'] == states.CANCELLING:
                self._abort_job(migration)    # an operator asked meanwhile
                aborted = True
            if time.monotonic() > deadline:
                if aborted or migration['status'] == states.POST_COPY:
                    return False   # a post-copy job cannot be aborted: the guest runs there
                self._abort_job(migration)
                aborted = True
                deadline = time.monotonic() + ABORT_GRACE_SECONDS
            time.sleep(POLL_SECONDS)
        return True

    def _abort_job(self, migration):
        try:
            self.compute_api.abort_live_migration(self.ctxt, migration['source_host'],
                                                  migration['id'],
                                                  migration['instance_uuid'])
        except exceptions.MigratorException as exc:
            LOG.warning('Migration %s: could not abort its job: %s', migration['id'], exc)

    def _remove_target_disks(self, migration):
        """After a failed block migration: the copies created on the target. None when
        nothing is left there, else a sentence saying what is."""
        if migration.get('block_migration') is False:
            return None
        unshared = shared_storage.unshared_disks(
            self.ctxt, self.compute_api, migration['source_host'], migration['target_host'],
            migration['instance_uuid'])
        if not unshared:
            return None
        result = self.compute_api.remove_unused_disks(
            self.ctxt, migration['target_host'], migration['instance_uuid'],
            [d['path'] for d in unshared])
        if result['kept']:
            return (f"disks {', '.join(result['kept'])} on {migration['target_host']} are "
                    f"used by a domain there and were not removed")
        return None

    def _remove_old_disks(self, migration):
        """After a completed block migration: the source's copies; a phrase for the log."""
        if not migration.get('block_migration'):
            return ''
        # The domain lives on the target now: its disks are read there.
        unshared = shared_storage.unshared_disks(
            self.ctxt, self.compute_api, migration['target_host'], migration['source_host'],
            migration['instance_uuid'])
        if not unshared:
            return ''
        seen = self._confirmed_by_source(migration, active=True)
        if seen is None:
            return (f"; kept its old disks on {migration['source_host']}: that host could not "
                    f"confirm through {migration['target_host']}'s libvirt daemon that the "
                    'instance runs there')
        # Only the paths the target's daemon shows the guest using (a block migration keeps
        # them), never others the target's agent might name.
        paths = [d['path'] for d in unshared if d['path'] in seen['disks']]
        if not paths:
            return ''
        result = self.compute_api.remove_unused_disks(
            self.ctxt, migration['source_host'], migration['instance_uuid'], paths)
        text = ''
        if result['removed']:
            text += (f"; removed its old disks {', '.join(result['removed'])} on "
                     f"{migration['source_host']}")
        if result['kept']:
            text += f"; kept {', '.join(result['kept'])}: a domain there still uses them"
        return text

    # -- cold -------------------------------------------------------------------------------

    def _settle_cold(self, migration):
        uuid, source, target = (migration['instance_uuid'], migration['source_host'],
                                migration['target_host'])
        if target is None:
            return self._end_in_error(migration, f'{RESTARTED}, before a target was recorded')
        reached = self._cold_progress(migration)
        was_running = self._was_running(migration)
        on_target = self._where(target, uuid)
        if reached in (states.STARTING, states.FINISHING) and on_target and \
                on_target['exists'] and (on_target['active'] or not was_running) and \
                migration['status'] not in (states.CANCELLING, states.ROLLING_BACK):
            # It lives on the target: there is no way back, only forward.
            on_source = self._where(source, uuid)
            if on_source and on_source['exists']:
                if self._confirmed_by_source(migration, active=was_running) is None:
                    return self._end_in_error(
                        migration, f"{RESTARTED}; {target}'s agent says the instance is "
                                   f"there, but {source} could not confirm it through "
                                   f"{target}'s libvirt daemon: nothing was removed from "
                                   f"{source}; check where the instance runs")
                paths = [d['path'] for d in shared_storage.unshared_disks(
                    self.ctxt, self.compute_api, source, target, uuid)]
                self.compute_api.remove_source_copy(self.ctxt, source, uuid, paths)
            return self._complete(migration, f"{'running' if was_running else 'defined'} on "
                                             f"{target}; {RESTARTED}; removed from {source}")
        if reached in (states.COPYING, states.STARTING, states.FINISHING):
            # Whatever the copy made on the target (a job still running is stopped first,
            # and a definition removed); nothing was there before: the copy refuses to
            # overwrite.
            paths = [d['path'] for d in shared_storage.unshared_disks(
                self.ctxt, self.compute_api, source, target, uuid)]
            volumes = list(self.compute_api.cold_destination_paths(
                self.ctxt, target, uuid, paths).values())
            self.compute_api.remove_migrated_copy(self.ctxt, target, migration['id'], uuid,
                                                  volumes)
            if reached == states.COPYING:
                stop_exports(self.ctxt, self.compute_api, source, migration['id'])
        if reached == states.STOPPING and was_running:
            self._wait_for_stop(source, uuid)
        on_source = self._where(source, uuid)
        if was_running and on_source and on_source['exists'] and not on_source['active']:
            self.compute_api.start_instance(self.ctxt, source, uuid)
            on_source = self._where(source, uuid)
        if not (on_source and on_source['exists']) or (was_running and
                                                       not on_source['active']):
            return self._end_in_error(migration, f'{RESTARTED}; the instance is not '
                                                 f'{"running" if was_running else "defined"}'
                                                 f' on the source {source} any more')
        return self._roll_back(migration, f'the conductor restarted while the cold '
                                          f'migration was {reached}', None)

    def _cold_progress(self, migration):
        """The furthest step of the cold migration before any cancelling or rolling back."""
        steps = (states.PREPARING, states.STOPPING, states.COPYING, states.STARTING,
                 states.FINISHING)
        reached = None
        for event in self.db.migration_get(migration['id'])['events']:
            if event['to_state'] in steps:
                reached = event['to_state']
        return reached

    def _was_running(self, migration):
        """Whether the guest ran before the cold migration stopped it: what its stopping
        event says (cold.py writes it)."""
        for event in self.db.migration_get(migration['id'])['events']:
            if event['to_state'] == states.STOPPING:
                return not (event['detail'] or '').startswith(ALREADY_SHUT_OFF)
        return False

    def _wait_for_stop(self, source, uuid):
        """The source's agent goes on shutting the guest down after the conductor died;
        wait for that to end, so the guest is not started while it is being stopped."""
        deadline = (time.monotonic() + CONF.conductor.shutdown_timeout
                    + ABORT_GRACE_SECONDS)
        while time.monotonic() < deadline:
            state = self._where(source, uuid)
            if not (state and state['active']):
                return
            if self._stopping is not None and self._stopping.is_set():
                return
            time.sleep(POLL_SECONDS)

    def _confirmed_by_source(self, migration, active):
        return source_check.confirmed_on_target(self.ctxt, self.db, self.compute_api,
                                                migration, active)

    # -- transitions ------------------------------------------------------------------------

    def _where(self, host, uuid):
        try:
            return self.compute_api.get_domain_state(self.ctxt, host, uuid)
        except exceptions.MigratorException as exc:
            LOG.warning('Cannot ask %s about instance %s: %s', host, uuid, exc)
            return None

    def _walk(self, migration, path, detail, values=None):
        """Transitions through `path` from the state read; the last step gets the detail."""
        current = migration['status']
        for step, to_state in enumerate(path):
            last = step == len(path) - 1
            migration = self.db.migration_transition(
                migration['id'], [current], to_state,
                detail=detail if last else RESTARTED, values=values if last else None,
                owner=self._owners.get(migration['id']))
            current = to_state
        return migration

    def _complete(self, migration, detail):
        path = {states.PREPARING: [states.RUNNING, states.FINISHING, states.COMPLETED],
                states.RUNNING: [states.FINISHING, states.COMPLETED],
                states.POST_COPY: [states.FINISHING, states.COMPLETED],
                states.STARTING: [states.FINISHING, states.COMPLETED],
                states.FINISHING: [states.COMPLETED]}.get(migration['status'])
        if path is None:   # cancelling or rolling back, yet it completed
            return self._end_in_error(migration, f'{detail}, though it was '
                                                 f'{migration["status"]}')
        self._walk(migration, path, detail)
        return states.COMPLETED

    def _roll_back(self, migration, reason, left_on_target):
        cancelling = migration['status'] == states.CANCELLING
        current = migration['status']
        if not cancelling and states.ROLLING_BACK not in states.ALLOWED[current] \
                and current != states.ROLLING_BACK:
            return self._end_in_error(migration, f'{reason}; cannot roll back from {current}')
        if left_on_target:
            return self._end_in_error(migration, f'{reason}; {left_on_target}')
        end = states.CANCELLED if cancelling else states.FAILED
        path = [end] if current in (states.CANCELLING, states.ROLLING_BACK) \
            else [states.ROLLING_BACK, end]
        self._walk(migration, path, f"{reason}; the instance runs on the source "
                                    f"{migration['source_host']}", {'error': reason})
        return end

    def _end_in_error(self, migration, detail):
        current = self.db.migration_get(migration['id'])['status']
        if current in states.TERMINAL:
            return current
        self.db.migration_transition(migration['id'], [current], states.ERROR, detail=detail,
                                     values={'error': detail},
                                     owner=self._owners.get(migration['id']))
        return states.ERROR
