"""Which conductor drives each piece of long-running work, and who takes it over (a mixin of
migrator.db.api.Database).

One mechanism for the three kinds of work a conductor drives -- migrations, drain jobs and
rebalance plans:

- Conductors heartbeat in `conductors`, one row per name ([DEFAULT] host) holding the
  incarnation (process) that runs under it now. A conductor whose heartbeat is older than
  [conductor] takeover_after, or that stopped cleanly, is dead.
- Each work row names its conductor and carries a generation, bumped by every take
  (start and take-over). Taking is a compare-and-swap on (conductor, generation) as the
  taker read them, so of several conductors exactly one wins.
- The owner's later transitions include (conductor, generation) in their compare-and-swap
  (see Database.migration_transition(owner=...), drain_transition, plan_transition): a
  conductor cut off from the DB or the bus while its work was adopted cannot move that work
  on when it comes back.
"""

import dataclasses
import datetime

import sqlalchemy as sa

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db import drain_models as dm
from migrator.db import engine as db_engine
from migrator.db import models
from migrator.db.models import conductors


@dataclasses.dataclass(frozen=True)
class WorkKind:
    table: sa.Table
    driven: tuple        # states in which a conductor drives the work (it has an owner)


# Migrations that are accepted or queued belong to no conductor yet (the queue starts them).
KINDS = {
    'migration': WorkKind(models.migrations, tuple(sorted(
        set(states.ALLOWED) - states.TERMINAL - {states.ACCEPTED, states.QUEUED}))),
    'drain': WorkKind(dm.drains, (states.DRAIN_RUNNING, states.DRAIN_CANCELLING)),
    'plan': WorkKind(models.plans, (states.PLAN_APPLYING,)),
}


# The state of work not started yet: its start message names no conductor.
UNSTARTED = {'migration': states.ACCEPTED, 'drain': states.DRAIN_ACCEPTED}


def _kind(kind):
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f'{kind!r} is not a kind of work ({", ".join(KINDS)})') from None


class ConductorQueries:
    """Needs self._write(), self._read() (Database provides them)."""

    # -- conductors -------------------------------------------------------------------------

    @db_engine.retry_on_deadlock
    def conductor_register(self, name, incarnation, takeover_after, machine=None, pid=None,
                           dead_incarnation=None, version=None):
        """Record `incarnation` as the conductor running under `name`; returns the row it
        replaced (None for a new name).

        Refused (ConductorAlreadyRunning) while another incarnation of the name is alive:
        its heartbeat newer than takeover_after seconds and not stopped, unless it is
        dead_incarnation (the caller proved that one dead: same machine, its pid gone).
        `version` is the migrator version the incarnation runs.
        """
        now = utcnow()
        c = conductors.c
        row = {'incarnation': incarnation, 'machine': machine, 'pid': pid, 'started_at': now,
               'heartbeat_at': now, 'stopped_at': None, 'version': version}
        with self._write() as conn:
            old = conn.execute(sa.select(conductors).where(c.name == name)
                               .with_for_update()).first()
            if old is None:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(conductors).values(name=name, **row))
                    return None
                except sa.exc.IntegrityError:
                    old = conn.execute(sa.select(conductors).where(c.name == name)
                                       .with_for_update()).first()
            alive = (old.stopped_at is None and old.incarnation != dead_incarnation
                     and old.heartbeat_at >= now - datetime.timedelta(seconds=takeover_after))
            if alive:
                raise exceptions.ConductorAlreadyRunning(
                    name=name, machine=old.machine, pid=old.pid,
                    heartbeat=old.heartbeat_at.isoformat(sep=' ', timespec='seconds'),
                    takeover_after=takeover_after)
            conn.execute(sa.update(conductors).where(c.name == name).values(row))
            return dict(old._mapping)

    def conductor_heartbeat(self, name, incarnation):
        """Beat; False when another incarnation has replaced this one under the name."""
        c = conductors.c
        with self._write() as conn:
            res = conn.execute(sa.update(conductors).where(
                c.name == name, c.incarnation == incarnation).values(
                    heartbeat_at=utcnow(), stopped_at=None))
            return res.rowcount == 1

    def conductor_stopped(self, name, incarnation):
        """A clean stop: the work left unfinished may be adopted at once."""
        c = conductors.c
        with self._write() as conn:
            conn.execute(sa.update(conductors).where(
                c.name == name, c.incarnation == incarnation).values(stopped_at=utcnow()))

    def conductor_get(self, name):
        with self._read() as conn:
            row = conn.execute(sa.select(conductors).where(conductors.c.name == name)).first()
        return dict(row._mapping) if row is not None else None

    def conductor_list(self):
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(conductors).order_by(conductors.c.name))]

    @staticmethod
    def _live_names(takeover_after):
        c = conductors.c
        cutoff = utcnow() - datetime.timedelta(seconds=takeover_after)
        return sa.select(c.name).where(c.stopped_at.is_(None), c.heartbeat_at >= cutoff)

    def conductor_alive(self, name, takeover_after):
        with self._read() as conn:
            return conn.execute(self._live_names(takeover_after).where(
                conductors.c.name == name)).first() is not None

    # -- work -------------------------------------------------------------------------------

    def work_orphans(self, kind, takeover_after, unowned_before=None):
        """Work of `kind` being driven (see KINDS) whose conductor is dead; with
        unowned_before (naive UTC), also such work that names no conductor and was last
        changed before then (its start message was lost). Oldest first; plain rows
        (columns of the work's table, no events or items)."""
        spec = _kind(kind)
        t = spec.table.c
        orphaned = sa.and_(t.conductor.is_not(None),
                           t.conductor.not_in(self._live_names(takeover_after)))
        if unowned_before is not None:
            orphaned = sa.or_(orphaned, sa.and_(t.conductor.is_(None),
                                                t.updated_at < unowned_before))
        query = (sa.select(spec.table).where(t.status.in_(spec.driven), orphaned)
                 .order_by(t.created_at, t.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def work_unstarted(self, kind, before):
        """Work of `kind` (migration, drain) still waiting for its start message since
        before `before` (naive UTC): the message may have been lost. Oldest first."""
        t = _kind(kind).table.c
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(_kind(kind).table).where(t.status == UNSTARTED[kind],
                                                   t.updated_at < before)
                .order_by(t.created_at, t.id))]

    def work_owned_by(self, kind, conductor):
        """Work of `kind` being driven that names `conductor` (its own, after a restart)."""
        spec = _kind(kind)
        t = spec.table.c
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(spec.table).where(t.status.in_(spec.driven), t.conductor == conductor)
                .order_by(t.created_at, t.id))]

    @db_engine.retry_on_deadlock
    def work_take(self, kind, work_id, conductor, seen_conductor, seen_generation):
        """CAS the work to `conductor` with the next generation, if it still has the owner
        and generation the caller read and is still being driven. Returns the new
        generation, or None when it changed meanwhile (someone else took it, or it ended)."""
        spec = _kind(kind)
        t = spec.table.c
        owner = (t.conductor.is_(None) if seen_conductor is None
                 else t.conductor == seen_conductor)
        with self._write() as conn:
            res = conn.execute(sa.update(spec.table).where(
                t.id == work_id, t.status.in_(spec.driven), owner,
                t.generation == seen_generation).values(
                    conductor=conductor, generation=t.generation + 1, updated_at=utcnow()))
            return seen_generation + 1 if res.rowcount == 1 else None

    def work_owner_is(self, kind, work_id, conductor, generation):
        """Whether the work is still `conductor`'s, at `generation`."""
        t = _kind(kind).table.c
        with self._read() as conn:
            return conn.execute(sa.select(t.id).where(
                t.id == work_id, t.conductor == conductor,
                t.generation == generation)).first() is not None
