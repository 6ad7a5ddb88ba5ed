"""Queries of rebalance plans and their moves, a mixin of migrator.db.api.Database.

A plan's state and each move's state change by compare-and-swap only, like migrations: two
conductors (or two apply requests) cannot both take one plan or one move.
"""

import uuid as uuidlib

import sqlalchemy as sa

from migrator.common import exceptions, states
from migrator.common.timeutils import utcnow
from migrator.db import models, paging, requester
from migrator.db.models import plan_moves, plans
from migrator.db.observers import observed
from migrator.db.rows import as_dict, check_fields


class PlanQueries:

    @observed('plan')
    def plan_create(self, values, moves):
        """Records a plan in state `planned` with its moves (dicts of models.MOVE_FIELDS)."""
        check_fields(values, models.PLAN_CREATE_FIELDS, 'plan_create')
        for move in moves:
            check_fields(move, models.MOVE_FIELDS, 'plan_create move')
        plan_id = values.get('id') or str(uuidlib.uuid4())
        now = utcnow()
        with self._write() as conn:
            conn.execute(sa.insert(plans).values({
                **values, 'id': plan_id, 'status': states.PLAN_PLANNED, 'created_at': now,
                'updated_at': now, **requester.current()}))
            if moves:
                conn.execute(sa.insert(plan_moves), [
                    {**move, 'plan_id': plan_id, 'status': states.MOVE_PLANNED}
                    for move in moves])
            return self._plan_get(conn, plan_id)

    def _plan_get(self, conn, plan_id):
        row = conn.execute(sa.select(plans).where(plans.c.id == plan_id)).first()
        if row is None:
            raise exceptions.PlanNotFound(id=plan_id)
        moves = conn.execute(sa.select(plan_moves).where(plan_moves.c.plan_id == plan_id)
                             .order_by(plan_moves.c.seq))
        return {**as_dict(row), 'moves': [as_dict(m) for m in moves]}

    def plan_get(self, plan_id):
        with self._read() as conn:
            return self._plan_get(conn, plan_id)

    def plan_list(self, status=None, limit=50, marker=None):
        """Newest first, without moves; each with `move_count`; `marker` is the id of the
        last plan of the previous page."""
        c = plans.c
        counts = (sa.select(plan_moves.c.plan_id, sa.func.count().label('move_count'))
                  .group_by(plan_moves.c.plan_id).subquery())
        order = [(c.created_at, True), (c.id, True)]
        query = paging.ordered(
            sa.select(plans, sa.func.coalesce(counts.c.move_count, 0).label('move_count'))
            .outerjoin(counts, counts.c.plan_id == c.id), order, limit)
        if status is not None:
            query = query.where(c.status == status)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, plans, 'id', marker, order,
                                            'plan id')
            return [as_dict(r) for r in conn.execute(query)]

    @observed('plan')
    def plan_transition(self, plan_id, from_state, to_state, values=None, owner=None):
        """CAS the plan from from_state to to_state; returns it, or raises
        InvalidPlanTransition with its current state.

        Entering `applying` leaves the plan without a conductor (unless values name one):
        the conductor that takes the apply request (or, should that message be lost, any
        live conductor) takes it with migrator.db.queries.conductors's work_take. owner:
        (conductor, generation) of the conductor applying it; the CAS then needs the plan to
        be still its own (fencing)."""
        if to_state not in states.PLAN_ALLOWED.get(from_state, ()):
            raise ValueError(f'a plan cannot go from {from_state} to {to_state}')
        values = dict(values or {})
        check_fields(values, models.PLAN_TRANSITION_FIELDS, 'plan_transition')
        now = utcnow()
        changes = {**values, 'status': to_state, 'updated_at': now}
        if to_state == states.PLAN_APPLYING:
            changes['started_at'] = now
            changes.setdefault('conductor', None)
        if to_state in (states.PLAN_APPLIED, states.PLAN_PARTIAL, states.PLAN_FAILED,
                        states.PLAN_CANCELLED):
            changes['finished_at'] = now
        fence = [] if owner is None else [plans.c.conductor == owner[0],
                                          plans.c.generation == owner[1]]
        with self._write() as conn:
            res = conn.execute(sa.update(plans).where(
                plans.c.id == plan_id, plans.c.status == from_state, *fence).values(changes))
            if res.rowcount == 0:
                current = conn.execute(
                    sa.select(plans.c.status).where(plans.c.id == plan_id)).scalar()
                if current is None:
                    raise exceptions.PlanNotFound(id=plan_id)
                raise exceptions.InvalidPlanTransition(id=plan_id, current=current,
                                                       target=to_state)
            return self._plan_get(conn, plan_id)

    def plan_move_transition(self, plan_id, seq, from_state, to_state, values=None):
        """CAS one move's state; True when this caller made the change."""
        if to_state not in states.MOVE_STATUSES:
            raise ValueError(f'{to_state} is not a move state')
        values = dict(values or {})
        check_fields(values, models.MOVE_UPDATE_FIELDS, 'plan_move_transition')
        now = utcnow()
        changes = {**values, 'status': to_state}
        if to_state == states.MOVE_RUNNING:
            changes['started_at'] = now
        if to_state in (states.MOVE_COMPLETED, states.MOVE_FAILED, states.MOVE_SKIPPED):
            changes['finished_at'] = now
        with self._write() as conn:
            res = conn.execute(sa.update(plan_moves).where(
                plan_moves.c.plan_id == plan_id, plan_moves.c.seq == seq,
                plan_moves.c.status == from_state).values(changes))
            conn.execute(sa.update(plans).where(plans.c.id == plan_id)
                         .values(updated_at=now))
            return res.rowcount == 1
