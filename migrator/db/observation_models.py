"""What each completed live migration of a guest showed: its observed dirty rate, passes,
duration and downtime (migrator.db.queries.observations). A dry run's forecast reads the latest one
of a guest when the hypervisor cannot measure the guest itself.

Not a foreign key to migrations: an observation describes the guest and outlives the
migration record's clean-up.
"""

import datetime

from sqlalchemy import BigInteger, Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from migrator.db.models import TABLE_ARGS, Base


class MigrationObservation(Base):
    __tablename__ = 'migration_observations'
    __table_args__ = (
        Index('ix_migration_observations_instance_uuid_id', 'instance_uuid', 'id'),
        Index('ix_migration_observations_hosts_id', 'source_host', 'target_host', 'id'),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36))
    migration_id: Mapped[str] = mapped_column(String(36))
    time: Mapped[datetime.datetime]
    source_host: Mapped[str | None] = mapped_column(String(255))
    target_host: Mapped[str | None] = mapped_column(String(255))
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Bytes per second: the median libvirt reported once the first pass was done.
    dirty_rate: Mapped[int | None] = mapped_column(BigInteger)
    transfer_rate: Mapped[int | None] = mapped_column(BigInteger)
    # The largest pass after the first: what the guest keeps rewriting.
    working_set_bytes: Mapped[int | None] = mapped_column(BigInteger)
    iterations: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Double)
    downtime_ms: Mapped[int | None] = mapped_column(Integer)
    bandwidth_mib: Mapped[int | None] = mapped_column(Integer)
    # Bytes per second at which the job worked its passes off, syncs and waits for a CPU
    # included (migrator.common.forecast.effective_rate): what the cap really gave.
    effective_rate: Mapped[int | None] = mapped_column(BigInteger)
    # Seconds of the migration (request to completion) that its passes do not explain: the
    # duration minus what the passes sent at its effective rate
    # (migrator.common.forecast.residual_overhead). The forecast's learned fixed overhead.
    overhead_seconds: Mapped[float | None] = mapped_column(Double)


migration_observations = MigrationObservation.__table__

OBSERVATION_FIELDS = frozenset(c.name for c in migration_observations.columns) - {'id'}
