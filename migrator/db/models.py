"""Declarative models of the migrator database.

Datetimes are naive UTC everywhere: written as naive UTC (an aware value is converted to UTC
first) and read back naive, with microsecond precision on SQLite, PostgreSQL and MariaDB alike
(MariaDB's plain DATETIME would drop the fraction, hence DATETIME(6)). Naive rather than aware
because SQLite and MariaDB have no time-zone-aware column type, so only naive values
round-trip identically on all three.

The schema itself is owned by the alembic scripts in migrations/versions; these models must
match them (tests/unit/db checks it with alembic's compare_metadata).
"""

import datetime
import json

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from migrator.common import kinds
from migrator.common.timeutils import utcnow

# Deterministic constraint names on every backend, so that later migrations can drop them.
NAMING_CONVENTION = {
    'ix': 'ix_%(column_0_label)s',
    'uq': 'uq_%(table_name)s_%(column_0_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}

# utf8mb4_bin: compare names and uuids case-sensitively, as PostgreSQL and SQLite do.
TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4',
              'mysql_collate': 'utf8mb4_bin'}

HOST_STATUSES = ('enabled', 'disabled', 'maintenance')
MIGRATION_TYPES = kinds.NAMES
SERVER_GROUP_POLICIES = ('affinity', 'anti-affinity')

# Which columns each API call may write.
HOST_REPORT_FIELDS = frozenset({
    'address', 'hypervisor_uri', 'virt_type', 'hypervisor_version', 'cpu_model',
    'memory_mb', 'memory_mb_used', 'vcpus', 'vcpus_used', 'disk_gb', 'disk_gb_used',
    'reserved_memory_mb', 'cpu_models', 'agent_version',
})
HOST_DEFAULTS = {
    'virt_type': 'kvm', 'hypervisor_version': 0, 'memory_mb': 0, 'memory_mb_used': 0,
    'vcpus': 0, 'vcpus_used': 0, 'disk_gb': 0, 'disk_gb_used': 0, 'reserved_memory_mb': 0,
    'status': 'enabled',
}
INSTANCE_SIZES = ('memory_mb', 'vcpus', 'disk_gb')
CREATE_FIELDS = frozenset({
    'id', 'instance_uuid', 'instance_name', 'type', 'block_migration', 'source_host',
    'target_host', 'requested_target', 'conductor', 'convergence', 'priority',
})
# Percentages that never go backwards (the DB keeps the highest seen).
PERCENT_FIELDS = ('progress', 'memory_progress', 'disk_progress')
PROGRESS_FIELDS = frozenset({
    'progress', 'memory_progress', 'disk_progress', 'memory_total', 'memory_processed',
    'memory_remaining', 'disk_total', 'disk_processed', 'disk_remaining', 'data_total',
    'data_processed', 'data_remaining', 'dirty_rate', 'transfer_rate', 'iteration',
    'downtime_ms', 'downtime_limit_ms', 'eta_seconds',
})
# What a sample row records besides its time.
SAMPLE_FIELDS = PROGRESS_FIELDS | {'elapsed_ms'}
TRANSITION_FIELDS = PROGRESS_FIELDS | {
    'block_migration', 'target_host', 'requested_target', 'conductor', 'error',
}


class JSONText(TypeDecorator):
    """A JSON document in a TEXT column: the same type on every backend (MariaDB's JSON is
    a LONGTEXT alias that would not compare equal to the migrations' schema)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class UTCDateTime(TypeDecorator):
    """Naive-UTC datetime with microseconds on every backend."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ('mysql', 'mariadb'):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime.datetime: UTCDateTime()}


REQUESTER_FIELDS = ('user_id', 'user_name', 'project_id', 'project_name', 'request_id',
                    'global_request_id')


class RequesterMixin:
    """Who asked: the identity and request ids of the request a row was written for (see
    migrator.common.context.requester); all null for what the services do on their own."""

    user_id: Mapped[str | None] = mapped_column(String(255))
    user_name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(255))
    project_name: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(64))
    global_request_id: Mapped[str | None] = mapped_column(String(64))


class Host(Base):
    __tablename__ = 'hosts'
    __table_args__ = (
        # The conductors' host-state caches fetch the rows changed since they last looked.
        Index('ix_hosts_updated_at', 'updated_at'),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    address: Mapped[str | None] = mapped_column(String(255))
    hypervisor_uri: Mapped[str | None] = mapped_column(String(255))
    virt_type: Mapped[str] = mapped_column(String(32), default='kvm')
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0)
    cpu_model: Mapped[str | None] = mapped_column(String(255))
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb_used: Mapped[int] = mapped_column(Integer, default=0)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    vcpus_used: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb_used: Mapped[int] = mapped_column(Integer, default=0)
    reserved_memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    # The JSON list of CPU models this host's hypervisor can run (libvirt's domain
    # capabilities, usable='yes'); the scheduler's CPU filter reads it.
    cpu_models: Mapped[str | None] = mapped_column(Text)
    # What the scheduler has claimed here for migrations in flight, and how many migrations
    # leave and enter the host now; changed only by the claim and release compare-and-swaps.
    claimed_memory_mb: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    claimed_vcpus: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    claimed_disk_gb: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    outbound_migrations: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    inbound_migrations: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    status: Mapped[str] = mapped_column(String(16), default='enabled')
    status_reason: Mapped[str | None] = mapped_column(Text)
    last_heartbeat: Mapped[datetime.datetime]
    # The agent's clock when it gathered the newest report applied to the *_used columns: a
    # report gathered earlier but delivered later (by the other conductor) is not applied.
    usage_reported_at: Mapped[datetime.datetime | None]
    # The migrator version of the host's agent, as it last reported it.
    agent_version: Mapped[str | None] = mapped_column(String(64))
    # What the DB holds of the host's last report (migrator.conductor.reports): the digest
    # of the report last written in full, host row and guests' rows alike (NULL while a full
    # write is under way, or when the DB took a report only in part); the agent's time of
    # the newest report it stands for (a full write's or a heartbeat's: anything else that
    # moves usage_reported_at -- a down mark, a conductor of an older release writing a
    # report -- leaves the two unequal, and the digest stands for nothing); when its guests'
    # rows were written, and how many the host had then. A report with this digest is a
    # heartbeat on any conductor, as long as no guest row of the host changed since.
    report_digest: Mapped[str | None] = mapped_column(String(32))
    report_digest_at: Mapped[datetime.datetime | None]
    report_synced_at: Mapped[datetime.datetime | None]
    report_instances: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class Instance(Base):
    __tablename__ = 'instances'
    __table_args__ = (
        Index('ix_instances_host', 'host'),
        Index('ix_instances_name', 'name'),
        TABLE_ARGS,
    )

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    power_state: Mapped[str] = mapped_column(String(16))
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    cpu_model: Mapped[str | None] = mapped_column(String(255))
    # The lock: the id of the one migration in flight for this instance. Not a foreign key,
    # so that instances and migrations can be written in either order within a transaction.
    migration_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class Migration(RequesterMixin, Base):
    __tablename__ = 'migrations'
    __table_args__ = (
        Index('ix_migrations_instance_uuid', 'instance_uuid'),
        Index('ix_migrations_status', 'status'),
        # Keyset pagination walks (created_at, id) newest first.
        Index('ix_migrations_created_at_id', 'created_at', 'id'),
        TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(String(36))
    instance_name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(8))
    block_migration: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    source_host: Mapped[str] = mapped_column(String(255))
    target_host: Mapped[str | None] = mapped_column(String(255))
    requested_target: Mapped[str | None] = mapped_column(String(255))
    conductor: Mapped[str | None] = mapped_column(String(255))
    # Queued migrations start highest priority first, oldest first within a priority.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    error: Mapped[str | None] = mapped_column(Text)
    # Double, not Float: MySQL's FLOAT is single precision and would not round-trip.
    progress: Mapped[float] = mapped_column(Double, default=0.0)
    memory_total: Mapped[int | None] = mapped_column(BigInteger)
    memory_processed: Mapped[int | None] = mapped_column(BigInteger)
    memory_remaining: Mapped[int | None] = mapped_column(BigInteger)
    disk_total: Mapped[int | None] = mapped_column(BigInteger)
    disk_processed: Mapped[int | None] = mapped_column(BigInteger)
    disk_remaining: Mapped[int | None] = mapped_column(BigInteger)
    dirty_rate: Mapped[int | None] = mapped_column(BigInteger)
    iteration: Mapped[int | None] = mapped_column(Integer)
    downtime_ms: Mapped[int | None] = mapped_column(Integer)
    eta_seconds: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    memory_progress: Mapped[float | None] = mapped_column(Double)
    disk_progress: Mapped[float | None] = mapped_column(Double)
    data_total: Mapped[int | None] = mapped_column(BigInteger)
    data_processed: Mapped[int | None] = mapped_column(BigInteger)
    data_remaining: Mapped[int | None] = mapped_column(BigInteger)
    # Bytes per second sent (memory and disks), before what the guest dirties meanwhile.
    transfer_rate: Mapped[int | None] = mapped_column(BigInteger)
    # The downtime the job is allowed now (stepped up to the convergence maximum).
    downtime_limit_ms: Mapped[int | None] = mapped_column(Integer)
    convergence: Mapped[dict | None] = mapped_column(JSONText)
    started_at: Mapped[datetime.datetime | None]
    finished_at: Mapped[datetime.datetime | None]
    # Bumped whenever a conductor takes the migration (start, take-over): its transitions
    # are compare-and-swaps on (conductor, generation), so a conductor that lost it cannot
    # move it on (migrator.db.queries.conductors).
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default='0')


class MigrationEvent(RequesterMixin, Base):
    __tablename__ = 'migration_events'
    __table_args__ = (
        Index('ix_migration_events_migration_id', 'migration_id'),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    migration_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('migrations.id', ondelete='CASCADE'))
    time: Mapped[datetime.datetime]
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class MigrationSample(Base):
    """One progress sample of a running migration, as the source agent reported it."""

    __tablename__ = 'migration_samples'
    __table_args__ = (
        Index('ix_migration_samples_migration_id_id', 'migration_id', 'id'),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    migration_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('migrations.id', ondelete='CASCADE'))
    time: Mapped[datetime.datetime]
    elapsed_ms: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float | None] = mapped_column(Double)
    memory_progress: Mapped[float | None] = mapped_column(Double)
    disk_progress: Mapped[float | None] = mapped_column(Double)
    memory_total: Mapped[int | None] = mapped_column(BigInteger)
    memory_processed: Mapped[int | None] = mapped_column(BigInteger)
    memory_remaining: Mapped[int | None] = mapped_column(BigInteger)
    disk_total: Mapped[int | None] = mapped_column(BigInteger)
    disk_processed: Mapped[int | None] = mapped_column(BigInteger)
    disk_remaining: Mapped[int | None] = mapped_column(BigInteger)
    data_total: Mapped[int | None] = mapped_column(BigInteger)
    data_processed: Mapped[int | None] = mapped_column(BigInteger)
    data_remaining: Mapped[int | None] = mapped_column(BigInteger)
    dirty_rate: Mapped[int | None] = mapped_column(BigInteger)
    transfer_rate: Mapped[int | None] = mapped_column(BigInteger)
    iteration: Mapped[int | None] = mapped_column(Integer)
    downtime_ms: Mapped[int | None] = mapped_column(Integer)
    downtime_limit_ms: Mapped[int | None] = mapped_column(Integer)
    eta_seconds: Mapped[float | None] = mapped_column(Double)


class SchedulerCounter(Base):
    """One row (id 1): how many migrations hold a slot in the whole cluster."""
    __tablename__ = 'scheduler_counters'
    __table_args__ = TABLE_ARGS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    active_migrations: Mapped[int] = mapped_column(Integer, default=0)


class SchedulerClaim(Base):
    """What one migration holds: a slot on its source (and the cluster's), and once its
    target is chosen, the target's inbound slot and the guest's resources there."""
    __tablename__ = 'scheduler_claims'
    __table_args__ = (
        Index('ix_scheduler_claims_instance_uuid', 'instance_uuid'),
        TABLE_ARGS,
    )

    migration_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(String(36))
    source_host: Mapped[str] = mapped_column(String(255))
    target_host: Mapped[str | None] = mapped_column(String(255))
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    # True when the migration took a slot of its source and of the cluster (the queue);
    # a migration started without the queue claims its target only.
    holds_slot: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the migration completed: the claim then only keeps the guest's resources
    # counted on the target until a report from the target's agent counts the guest itself.
    landed_at: Mapped[datetime.datetime | None]
    # True while the target's applied usage report counts the guest (its incoming domain is
    # active there): the claim's resources are then left out of the host's claimed_*
    # columns, so one guest is never counted twice (SchedulingQueries._count_claims).
    counted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class ServerGroup(Base):
    __tablename__ = 'server_groups'
    __table_args__ = TABLE_ARGS

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    policy: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class ServerGroupMember(Base):
    __tablename__ = 'server_group_members'
    __table_args__ = (
        Index('ix_server_group_members_group_id', 'group_id'),
        TABLE_ARGS,
    )

    # An instance belongs to one group at most, as in Nova.
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('server_groups.id', ondelete='CASCADE'))
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


hosts = Host.__table__
instances = Instance.__table__
migrations = Migration.__table__
migration_events = MigrationEvent.__table__
migration_samples = MigrationSample.__table__


# -- rebalance plans (migrator.db.plans) ------------------------------------------------------

# Plan and move states: migrator.common.states.


PLAN_CREATE_FIELDS = frozenset({
    'id', 'goal', 'max_moves', 'min_gain', 'score_before', 'score_after',
    'memory_spread_before', 'memory_spread_after', 'vcpu_spread_before', 'vcpu_spread_after',
    'predicted_seconds', 'jobsets', 'stop_reason', 'conductor', 'truncated',
    'remaining_gain', 'remaining_moves',
})
PLAN_TRANSITION_FIELDS = frozenset({'conductor', 'error'})
MOVE_FIELDS = frozenset({
    'seq', 'jobset', 'instance_uuid', 'instance_name', 'source_host', 'target_host',
    'memory_mb', 'vcpus', 'disk_gb', 'gain', 'score_after', 'predicted_seconds',
})
MOVE_UPDATE_FIELDS = frozenset({'migration_id', 'reason'})


class Plan(RequesterMixin, Base):
    __tablename__ = 'plans'
    __table_args__ = (
        Index('ix_plans_created_at_id', 'created_at', 'id'),
        TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    goal: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    max_moves: Mapped[int | None] = mapped_column(Integer)
    min_gain: Mapped[float] = mapped_column(Double)
    score_before: Mapped[float] = mapped_column(Double)
    score_after: Mapped[float] = mapped_column(Double)
    memory_spread_before: Mapped[float] = mapped_column(Double)
    memory_spread_after: Mapped[float] = mapped_column(Double)
    vcpu_spread_before: Mapped[float] = mapped_column(Double)
    vcpu_spread_after: Mapped[float] = mapped_column(Double)
    predicted_seconds: Mapped[float] = mapped_column(Double)
    jobsets: Mapped[int] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    # Cut short by max_moves, and what the moves not planned would still have gained.
    truncated: Mapped[bool | None] = mapped_column(Boolean)
    remaining_gain: Mapped[float | None] = mapped_column(Double)
    remaining_moves: Mapped[int | None] = mapped_column(Integer)
    conductor: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime.datetime | None]
    finished_at: Mapped[datetime.datetime | None]
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default='0')


class PlanMove(Base):
    __tablename__ = 'plan_moves'
    __table_args__ = (
        Index('ix_plan_moves_plan_id', 'plan_id'),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey('plans.id', ondelete='CASCADE'))
    seq: Mapped[int] = mapped_column(Integer)
    jobset: Mapped[int] = mapped_column(Integer)
    instance_uuid: Mapped[str] = mapped_column(String(36))
    instance_name: Mapped[str | None] = mapped_column(String(255))
    source_host: Mapped[str] = mapped_column(String(255))
    target_host: Mapped[str] = mapped_column(String(255))
    memory_mb: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    gain: Mapped[float] = mapped_column(Double)
    score_after: Mapped[float] = mapped_column(Double)
    predicted_seconds: Mapped[float] = mapped_column(Double)
    status: Mapped[str] = mapped_column(String(16))
    migration_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime.datetime | None]
    finished_at: Mapped[datetime.datetime | None]


plans = Plan.__table__
plan_moves = PlanMove.__table__


class Conductor(Base):
    """One conductor name ([DEFAULT] host) and the incarnation (process) running under it
    now; a heartbeat older than [conductor] takeover_after means the conductor is dead."""
    __tablename__ = 'conductors'
    __table_args__ = TABLE_ARGS

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    incarnation: Mapped[str] = mapped_column(String(36))
    machine: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime.datetime]
    heartbeat_at: Mapped[datetime.datetime]
    # Set by a clean stop: its work may be adopted at once.
    stopped_at: Mapped[datetime.datetime | None]
    # The migrator version the incarnation runs (migrator-manage status shows it).
    version: Mapped[str | None] = mapped_column(String(64))


conductors = Conductor.__table__
scheduler_counters = SchedulerCounter.__table__
scheduler_claims = SchedulerClaim.__table__
server_groups = ServerGroup.__table__
server_group_members = ServerGroupMember.__table__
