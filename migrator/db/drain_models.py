"""Tables of drain jobs: one row per job, one row per guest it moves.

A job empties a host (kind `drain`) or brings the guests the last drain took away back to it
(kind `return`, from undrain). Kept apart from models.py so that the job tables read as one
concept; they share its Base, so alembic and the tests see one metadata.

`active_host` is the lock "one job at a time per host": it holds the host's name while the job
is not finished and NULL afterwards. A unique index over it makes a second job on the same
host fail atomically on insert (NULLs never collide on SQLite, PostgreSQL or MariaDB).
"""

import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from migrator.common.timeutils import utcnow
from migrator.db.models import TABLE_ARGS, Base, RequesterMixin

DRAIN_KINDS = ('drain', 'return')
DRAIN_MODES = ('live', 'live_then_cold', 'cold')

# Job and item states: migrator.common.states (DRAIN_*, DRAIN_ITEM_*).


DRAIN_WRITABLE = frozenset({'conductor', 'reason'})
ITEM_WRITABLE = frozenset({'status', 'migration_id', 'migration_type', 'target_host',
                           'reason', 'attempts', 'started_at', 'finished_at'})


class Drain(RequesterMixin, Base):
    __tablename__ = 'drains'
    __table_args__ = (
        UniqueConstraint('active_host', name='uq_drains_active_host'),
        Index('ix_drains_host_created_at', 'host', 'created_at'),
        TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    active_host: Mapped[str | None] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    max_parallel: Mapped[int] = mapped_column(Integer)
    # JSON list of host names, or NULL: any enabled host the scheduler picks.
    target_hosts: Mapped[str | None] = mapped_column(Text)
    # For kind `return`: the drain whose guests it brings back.
    origin_id: Mapped[str | None] = mapped_column(String(36))
    conductor: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    # Also the job's heartbeat: the conductor running it touches it; a stale one is orphaned.
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime.datetime | None]
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default='0')


class DrainItem(Base):
    __tablename__ = 'drain_items'
    __table_args__ = (
        UniqueConstraint('drain_id', 'instance_uuid', name='uq_drain_items_drain_id'),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    drain_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('drains.id', ondelete='CASCADE'))
    instance_uuid: Mapped[str] = mapped_column(String(36))
    instance_name: Mapped[str | None] = mapped_column(String(255))
    source_host: Mapped[str] = mapped_column(String(255))
    # Where the guest must go (return jobs) or went (drains, once moved).
    target_host: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    migration_id: Mapped[str | None] = mapped_column(String(36))
    migration_type: Mapped[str | None] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime.datetime | None]
    finished_at: Mapped[datetime.datetime | None]


drains = Drain.__table__
drain_items = DrainItem.__table__
