"""`migrator-manage host ...`."""

from migrator.cmd.manage import output

HOST_SHOW_FIELDS = (
    'name', 'state', 'status', 'status_reason', 'address', 'hypervisor_uri', 'virt_type',
    'hypervisor_version', 'cpu_model', 'vcpus', 'vcpus_used', 'vcpus_capacity',
    'vcpus_claimed', 'memory_mb', 'memory_mb_used', 'reserved_memory_mb', 'memory_mb_free',
    'memory_mb_capacity', 'memory_mb_claimed', 'disk_gb', 'disk_gb_used', 'disk_gb_capacity',
    'disk_gb_claimed', 'migrations_outbound', 'migrations_inbound', 'migrations_in_flight',
    'instances', 'cpu_models', 'last_heartbeat', 'created_at', 'updated_at',
)


def _used_of(used, total):
    if total is None:
        return None
    return f"{used if used is not None else '?'} / {total}"


def do_host_list(args):
    hosts = args.client.host_list()
    output.emit(args, {'hosts': hosts}, lambda: output.format_table(
        ['Name', 'Address', 'State', 'Status', 'vCPUs used', 'Memory MB used',
         'Memory MB free', 'Memory MB claimed', 'Disk GB used', 'Instances', 'Out / In',
         'Last heartbeat'],
        [(h.get('name'), h.get('address'), h.get('state'),
          h.get('status') + (f" ({h['status_reason']})" if h.get('status_reason') else ''),
          _used_of(h.get('vcpus_used'), h.get('vcpus')),
          _used_of(h.get('memory_mb_used'), h.get('memory_mb')), h.get('memory_mb_free'),
          h.get('memory_mb_claimed'), _used_of(h.get('disk_gb_used'), h.get('disk_gb')),
          h.get('instances'),
          f"{h.get('migrations_outbound', 0)} / {h.get('migrations_inbound', 0)}",
          h.get('last_heartbeat')) for h in hosts]))
    return 0


def do_host_show(args):
    host = args.client.host_get(args.name)
    output.emit(args, host, lambda: output.format_record(host, HOST_SHOW_FIELDS))
    return 0


def _set_status(args, status):
    host = args.client.host_set_status(args.name, status, args.reason)
    output.emit(args, host, lambda: output.format_record(host, HOST_SHOW_FIELDS))
    return 0


def do_host_set(args):
    return _set_status(args, args.status)


def register(commands):
    host = output.group(commands, 'host', 'Compute hosts.')
    output.leaf(host, 'list', do_host_list, 'List the hosts with their state and capacity.')
    leaf = output.leaf(host, 'show', do_host_show, 'Show one host.')
    leaf.add_argument('name', metavar='NAME')
    leaf = output.leaf(host, 'set', do_host_set,
                       "Set a host's status: only enabled hosts are migration targets.")
    leaf.add_argument('name', metavar='NAME')
    leaf.add_argument('--status', required=True, choices=('enabled', 'disabled', 'maintenance'))
    leaf.add_argument('--reason', help='Why (shown with the host and in refusals).')
    for status, verb, text in (('enabled', 'enable', 'Make a host a migration target again.'),
                               ('disabled', 'disable', 'Stop choosing a host as a target.'),
                               ('maintenance', 'maintenance',
                                'Put a host in maintenance: never a target.')):
        leaf = output.leaf(host, verb, lambda args, s=status: _set_status(args, s), text)
        leaf.add_argument('name', metavar='NAME')
        leaf.add_argument('--reason', help='Why (shown with the host and in refusals).')
