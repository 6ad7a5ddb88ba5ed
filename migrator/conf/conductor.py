from oslo_config import cfg

group = cfg.OptGroup('conductor', title='Conductor options')

opts = [
    cfg.IntOpt('workers', default=16, min=1,
               help='Threads that run migration tasks; each migration in flight holds one.'),
    cfg.IntOpt('service_down_time', default=30, min=1,
               help='Seconds without a heartbeat after which a compute host counts as down '
                    'and is not chosen as a target.'),
    cfg.IntOpt('compute_rpc_timeout', default=60, min=1,
               help='Seconds to wait for a compute agent to answer a preparation or check '
                    'call.'),
    cfg.IntOpt('call_try_timeout', default=10, min=1,
               deprecated_opts=[cfg.DeprecatedOpt('state_query_timeout', group='conductor')],
               help='Seconds to wait for one answer to a call that is harmless to repeat: '
                    'where an instance runs, its disks, the target\'s checks and the shared '
                    'storage probes while preparing, whether a job or disk copy still runs. '
                    'Such a call is sent again until compute_rpc_timeout has passed, so an '
                    'answer lost with a message broker restart (the agent\'s queue is '
                    'declared again only when it reconnects) costs one short try, not the '
                    'whole compute_rpc_timeout. Calls that change something (start a job, '
                    'create disks, define a domain) are sent once.'),
    cfg.IntOpt('migration_timeout', default=3600, min=1,
               help='Seconds a running migration may take before the conductor stops '
                    'waiting, aborts it and rolls back. A live migration whose completion '
                    'timeout ([libvirt] live_migration_completion_timeout per GiB) is longer '
                    'gets that plus 300 s instead.'),
    cfg.FloatOpt('disk_copy_check_interval', default=5.0, min=0.1,
                 help='Seconds between two questions to the target agent, while a cold '
                      'migration waits for its disk copy, whether the copy still runs: a '
                      'copy lost to an agent restart is rolled back within about this '
                      'long after the agent answers again.'),
    cfg.IntOpt('shutdown_timeout', default=60, min=0,
               help='Seconds a cold migration waits for the guest to shut down after the '
                    'ACPI power-button request before it forces the guest off (like pulling '
                    'the plug). 0 forces it off at once.'),
    cfg.IntOpt('audit_grace', default=30, min=0,
               help='Seconds a migration may sit in a state before `migrator-manage audit` '
                    'judges it: an `accepted` one no conductor took, a `running` live one '
                    'without a libvirt job; also how long after it landed a claim may wait '
                    'for its target to account for the guest.'),
    # -- agents' reports (migrator.conductor.reports) ----------------------------------------
    cfg.FloatOpt('heartbeat_flush_interval', default=1.0, min=0.05,
                 help='Seconds between two writes of the queued heartbeats: a report that '
                      'changes nothing on its host is only a heartbeat, and the heartbeats '
                      'of all such hosts are written together, in one transaction, this '
                      'often. A report that changes something is written at once.'),
    cfg.IntOpt('report_full_write_interval', default=300, min=0,
               help='A host\'s report is written in full (host row and every guest\'s row) '
                    'at least this often, in seconds, even though it changed nothing since '
                    'the last one written in full (by any conductor: the host\'s row says '
                    'when), so that a row changed behind the reports\' back is put right '
                    'within this long. Each host falls due at a point of the second half of '
                    'the interval fixed by its name, so hosts first written together are '
                    'not all written in full together again. 0 writes every report in '
                    'full.'),
    cfg.IntOpt('report_db_workers', default=4, min=1,
               help='Reports written in full at once by this conductor. Keep it below the '
                    'database connection pool (5 connections plus 10 overflow): the other '
                    'RPC threads then wait for a turn, not for a DB connection.'),
    # -- liveness and take-over (migrator.conductor.takeover) -------------------------------
    cfg.IntOpt('takeover_after', default=30, min=3,
               deprecated_opts=[cfg.DeprecatedOpt('orphan_timeout', group='drain')],
               help='Seconds without a heartbeat in the DB after which a conductor counts as '
                    'dead: a live conductor then adopts its migrations, drains and rebalance '
                    'plans and settles them. A conductor started under the [DEFAULT] host of '
                    'one whose heartbeat is younger than this refuses to start (unless that '
                    'one ran on this machine and its process is gone).'),
    cfg.FloatOpt('heartbeat_interval', default=5.0, min=0.5,
                 help='Seconds between two heartbeats of a conductor, and between two looks '
                      'for work to adopt or to start. Keep it well below takeover_after.'),
    cfg.FloatOpt('accept_grace', default=5.0, min=1.0,
                 help='Seconds an accepted migration or drain (or a plan being applied that '
                      'no conductor has taken) waits for its start message before any live '
                      'conductor takes it: the message may have been lost.'),
    cfg.FloatOpt('job_poll_interval', default=10.0, min=1.0,
                 help='Seconds a running live migration may go without a progress report or '
                      'the end of its job before the conductor asks the source agent whether '
                      'the libvirt job still runs, and the hypervisors where the guest runs, '
                      'so that a lost end-of-job message costs seconds, not '
                      'migration_timeout.'),
    cfg.IntOpt('recovery_workers', default=8, min=1,
               help='Migrations settled at once when a conductor adopts work (after its own '
                    'restart, or from a dead conductor).'),
    cfg.IntOpt('agent_retry_limit', default=600, min=0,
               help='Seconds the settling of an adopted migration keeps asking a compute '
                    'agent that does not answer (with backoff up to 30 s) before it ends '
                    'the migration in error for an operator.'),
    cfg.IntOpt('rpc_retry', default=3, min=-1,
               help='How many times a call or cast reconnects to the message broker before '
                    'it fails (oslo.messaging retry); -1 retries for ever. With a bounded '
                    'value a broker outage fails the caller instead of hanging it, and the '
                    'periodic look-ups of the conductor (accept_grace, job_poll_interval) '
                    'catch up on a lost message.'),
    cfg.IntOpt('db_retry_limit', default=300, min=0,
               help='Seconds a conductor retries a DB operation that failed because the '
                    'database cannot be reached (with backoff up to 10 s) before it gives '
                    'up on that step.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
