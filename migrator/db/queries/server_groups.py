"""Queries of server groups: named sets of instances with an affinity or anti-affinity
policy that the scheduler keeps when it moves one of them."""

import uuid as uuidlib

import sqlalchemy as sa

from migrator.common import exceptions
from migrator.common.timeutils import utcnow
from migrator.db import models, paging
from migrator.db.models import instances, server_group_members, server_groups


class ServerGroupNotFound(exceptions.NotFound):
    message = ("Server group '%(ident)s' is not known. `migrator-manage server-group list` "
               "shows the groups (by id or name).")


class ServerGroupQueries:
    """Mixin of Database (self._write(), self._read())."""

    def _group_row(self, conn, ident):
        g = server_groups.c
        row = conn.execute(sa.select(server_groups).where(g.id == ident)).first()
        if row is None:
            row = conn.execute(sa.select(server_groups).where(g.name == ident)).first()
        if row is None:
            raise ServerGroupNotFound(ident=ident)
        return row

    def _group_dict(self, conn, row):
        m = server_group_members.c
        members = [u for (u,) in conn.execute(
            sa.select(m.instance_uuid).where(m.group_id == row.id).order_by(m.created_at,
                                                                           m.instance_uuid))]
        return {**dict(row._mapping), 'members': members}

    def server_group_create(self, name, policy, members=()):
        if policy not in models.SERVER_GROUP_POLICIES:
            raise exceptions.Invalid(
                f"Server group policy '{policy}' is not one of "
                f"{', '.join(models.SERVER_GROUP_POLICIES)}.")
        group_id = str(uuidlib.uuid4())
        now = utcnow()
        with self._write() as conn:
            exists = conn.execute(sa.select(server_groups.c.id).where(
                server_groups.c.name == name)).first()
            if exists is not None:
                raise exceptions.Conflict(f"A server group named '{name}' exists already "
                                          f"({exists.id}); choose another name.")
            conn.execute(sa.insert(server_groups).values(id=group_id, name=name,
                                                         policy=policy, created_at=now))
            for instance_uuid in members:
                self._add_member(conn, group_id, instance_uuid, now)
            return self._group_dict(conn, self._group_row(conn, group_id))

    def server_group_get(self, ident):
        with self._read() as conn:
            return self._group_dict(conn, self._group_row(conn, ident))

    def server_group_list(self, limit=None, marker=None):
        """By name; `marker` is the id of the last group of the previous page."""
        order = [(server_groups.c.name, False), (server_groups.c.id, False)]
        query = paging.ordered(sa.select(server_groups), order, limit)
        with self._read() as conn:
            if marker is not None:
                query = paging.after_marker(conn, query, server_groups, 'id', marker, order,
                                            'server group id')
            rows = conn.execute(query).all()
            return [self._group_dict(conn, r) for r in rows]

    def server_group_delete(self, ident):
        with self._write() as conn:
            row = self._group_row(conn, ident)
            conn.execute(sa.delete(server_group_members).where(
                server_group_members.c.group_id == row.id))
            conn.execute(sa.delete(server_groups).where(server_groups.c.id == row.id))

    def _add_member(self, conn, group_id, instance_uuid, now):
        if conn.execute(sa.select(instances.c.uuid).where(
                instances.c.uuid == instance_uuid)).first() is None:
            raise exceptions.InstanceNotFound(ident=instance_uuid)
        m = server_group_members.c
        current = conn.execute(sa.select(m.group_id).where(
            m.instance_uuid == instance_uuid)).first()
        if current is not None:
            if current.group_id == group_id:
                return
            raise exceptions.Conflict(
                f'Instance {instance_uuid} is in server group {current.group_id} already; '
                'an instance belongs to one group at most: remove it there first.')
        conn.execute(sa.insert(server_group_members).values(
            group_id=group_id, instance_uuid=instance_uuid, created_at=now))

    def server_group_add_member(self, ident, instance_uuid):
        with self._write() as conn:
            row = self._group_row(conn, ident)
            self._add_member(conn, row.id, instance_uuid, utcnow())
            return self._group_dict(conn, row)

    def server_group_remove_member(self, ident, instance_uuid):
        with self._write() as conn:
            row = self._group_row(conn, ident)
            res = conn.execute(sa.delete(server_group_members).where(
                server_group_members.c.group_id == row.id,
                server_group_members.c.instance_uuid == instance_uuid))
            if res.rowcount == 0:
                raise exceptions.NotFound(
                    f"Instance {instance_uuid} is not a member of server group '{row.name}'.")
            return self._group_dict(conn, row)

    def server_group_of_instance(self, instance_uuid):
        """The instance's group with its other members' hosts, or None.

        {'id', 'name', 'policy', 'member_hosts': {uuid: host}} (the instance itself left out).
        """
        m = server_group_members.c
        with self._read() as conn:
            mine = conn.execute(sa.select(m.group_id).where(
                m.instance_uuid == instance_uuid)).first()
            if mine is None:
                return None
            group = conn.execute(sa.select(server_groups).where(
                server_groups.c.id == mine.group_id)).first()
            rows = conn.execute(
                sa.select(instances.c.uuid, instances.c.host)
                .select_from(server_group_members.join(
                    instances, instances.c.uuid == m.instance_uuid))
                .where(m.group_id == mine.group_id, m.instance_uuid != instance_uuid))
            member_hosts = {r.uuid: r.host for r in rows}
        return {'id': group.id, 'name': group.name, 'policy': group.policy,
                'member_hosts': member_hosts}
