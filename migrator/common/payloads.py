"""The shapes of the values that cross the message bus, as TypedDicts.

They are types for readers and for mypy only: at run time every payload is the plain dict
(JSON on the wire) it always was, so services of different releases still read each other,
and no conversion to or from primitives is needed. A key a newer release adds is
NotRequired here, since an older sender leaves it out; a value that may be unknown is
`| None`. Datetimes leave a process as ISO 8601 strings (oslo.messaging serialises them), so
a record read from the DB in the same process has datetimes and one received over the bus
has strings.
"""

import datetime
from typing import Any, Literal, NotRequired, TypedDict

# A datetime as the DB layer returns it, or the string it becomes on the wire.
Timestamp = datetime.datetime | str


# -- live migration convergence (conductor -> compute live_migrate, 1.3) -------------------

class MigrationControls(TypedDict):
    """The convergence settings of a live migration (common/convergence.py effective()),
    recorded on the migration as `convergence` and applied by the source's agent."""
    max_downtime_ms: int
    downtime_steps: int
    bandwidth_mib: int
    auto_converge: bool
    post_copy: bool
    completion_timeout_per_gib: int
    timeout_action: Literal['abort', 'force_complete']


# -- job statistics and outcomes (compute -> conductor) ------------------------------------

class JobStats(TypedDict, total=False):
    """A job's statistics in the units the service stores (bytes, bytes/s, ms), as the
    agent sends them with migration_progress and in an outcome. Any key may be missing or
    None: libvirt reports what it knows for the job's kind and phase."""
    memory_total: int | None
    memory_processed: int | None
    memory_remaining: int | None
    disk_total: int | None
    disk_processed: int | None
    disk_remaining: int | None
    data_total: int | None
    data_processed: int | None
    data_remaining: int | None
    memory_bps: int | None
    disk_bps: int | None
    dirty_rate: int | None
    iteration: int | None
    downtime_ms: int | None
    elapsed_ms: int | None
    auto_converge_throttle: int | None
    # What the agent did to converge the job (live migrations).
    downtime_limit_ms: int | None
    post_copy: bool
    forced: Literal['post_copy', 'paused'] | None
    forced_by: str | None


class LiveJobOutcome(TypedDict):
    """How a live migration's libvirt job ended (migration_job_done from the source)."""
    success: bool
    error: str | None
    stats: JobStats
    post_copy: NotRequired[bool]
    forced: NotRequired[Literal['post_copy', 'paused'] | None]
    forced_by: NotRequired[str | None]
    # Why the job was aborted, when it was (an operator's abort, a timeout).
    aborted: NotRequired[str | None]
    # Set by the conductor when it settled the end from the hypervisors, not a report.
    detail: NotRequired[str]


class DiskCopyOutcome(TypedDict):
    """How a cold migration's disk copy ended (migration_job_done from the target)."""
    success: bool
    error: str | None
    stats: JobStats
    volumes: list[str]   # the paths the copy created on the target


JobOutcome = LiveJobOutcome | DiskCopyOutcome


class DiskCopyState(TypedDict):
    """disk_copy_state: the copy runs still, or how it ended (None: not seen ending by
    this agent process)."""
    active: bool
    outcome: DiskCopyOutcome | None


class ForceCompleteResult(TypedDict):
    forced: Literal['post_copy', 'paused']


# -- host reports (compute -> conductor report_host) ---------------------------------------

class HostInventory(TypedDict):
    """What an agent reports of its host (virt driver get_inventory, plus usage)."""
    memory_mb: int
    vcpus: int
    disk_gb: int
    disk_gb_used: int
    virt_type: str
    hypervisor_version: int
    cpu_model: str | None
    hypervisor_uri: str | None
    memory_mb_used: int
    vcpus_used: int
    reserved_memory_mb: int
    agent_version: str
    cpu_models: list[str]


class DomainSummary(TypedDict):
    """One domain of a host (virt driver list_domains)."""
    uuid: str
    name: str
    power_state: str
    active: bool
    incoming: bool
    memory_mb: int
    vcpus: int
    disk_gb: int


class DomainState(TypedDict):
    """A domain as its host's agent describes it (get_domain_state)."""
    exists: bool
    power_state: str | None
    active: bool
    incoming: bool


class PeerDomainState(TypedDict):
    """A domain as another host's libvirt daemon describes it (peer_domain_state, 1.7)."""
    exists: bool
    active: bool
    incoming: bool
    disks: list[str]   # the paths of its disks


class DiskInfo(TypedDict):
    """A disk of a domain (get_disks)."""
    target: str
    path: str
    format: str
    capacity: int
    backing_path: str | None
    backing_format: str | None


class DiskSpec(TypedDict):
    """A disk to pre-create for an incoming block migration (create_migration_disks)."""
    path: str
    format: str
    capacity: int
    backing_path: NotRequired[str | None]
    backing_format: NotRequired[str | None]


class DiskCopy(TypedDict):
    """A disk a cold migration copies: its path on the source, its copy's on the target."""
    path: str
    target_path: str


class DiskExport(TypedDict):
    """One disk the source exports over NBD for a cold migration's copy."""
    path: str
    port: int
    name: str                  # the NBD export name
    format: str                # the image's format, which its copy keeps
    virtual_size: int
    allocation: int            # bytes on disk (the copy's progress counts these)
    create_options: dict[str, str]   # qcow2 options the copy is created with


class DiskExports(TypedDict):
    """export_disks: where the source's exports listen, and whether they need TLS-PSK."""
    address: str
    tls: bool
    exports: list[DiskExport]


class PowerOffResult(TypedDict):
    was_running: bool
    forced: bool


class DestinationCheck(TypedDict):
    """check_can_live_migrate_destination: where the source's job sends the guest."""
    migration_uri: str


class UnusedDisksResult(TypedDict):
    removed: list[str]
    kept: list[str]


class DomainAudit(TypedDict):
    """audit_domains (compute 1.6): every domain, and which jobs run, on one host."""
    domains: list[DomainSummary]
    jobs: dict[str, bool]


class AuditResult(TypedDict):
    """audit (conductor 1.7): what differs between the DB and the agents."""
    discrepancies: list[dict[str, Any]]
    fixed: list[str]
    hosts_checked: list[str]


# -- records (conductor -> API) -------------------------------------------------------------

class MigrationEvent(TypedDict):
    """A transition in a migration's history (its record's `events`, oldest first)."""
    time: Timestamp
    from_state: str | None
    to_state: str
    detail: str | None
    user_id: str | None
    user_name: str | None
    project_id: str | None
    project_name: str | None
    request_id: str | None
    global_request_id: str | None


class MigrationRecord(TypedDict):
    """A migration as the DB layer returns it (and abort_migration answers it)."""
    id: str
    instance_uuid: str
    instance_name: str | None
    type: str
    block_migration: bool | None
    status: str
    source_host: str
    target_host: str | None
    requested_target: str | None
    conductor: str | None
    generation: int
    priority: int
    error: str | None
    progress: float
    memory_progress: float | None
    disk_progress: float | None
    memory_total: int | None
    memory_processed: int | None
    memory_remaining: int | None
    disk_total: int | None
    disk_processed: int | None
    disk_remaining: int | None
    data_total: int | None
    data_processed: int | None
    data_remaining: int | None
    dirty_rate: int | None
    transfer_rate: int | None
    iteration: int | None
    downtime_ms: int | None
    downtime_limit_ms: int | None
    eta_seconds: float | None
    convergence: MigrationControls | None
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    user_id: str | None
    user_name: str | None
    project_id: str | None
    project_name: str | None
    request_id: str | None
    global_request_id: str | None
    events: NotRequired[list[MigrationEvent]]
