"""`migrator-manage host ...`."""

from migrator.cmd.manage import output

HOST_SHOW_FIELDS = (
    'name', 'state', 'status', 'status_reason', 'address', 'hypervisor_uri', 'virt_type',
    'hypervisor_version', 'cpu_model', 'vcpus', 'vcpus_used', 'memory_mb', 'memory_mb_used',
    'reserved_memory_mb', 'memory_mb_free', 'disk_gb', 'disk_gb_used', 'instances',
    'last_heartbeat', 'created_at', 'updated_at',
)


def _used_of(used, total):
    if total is None:
        return None
    return f"{used if used is not None else '?'} / {total}"


def do_host_list(args):
    hosts = args.client.host_list()
    output.emit(args, {'hosts': hosts}, lambda: output.format_table(
        ['Name', 'Address', 'State', 'Status', 'vCPUs used', 'Memory MB used',
         'Memory MB free', 'Disk GB used', 'Instances', 'Last heartbeat'],
        [(h.get('name'), h.get('address'), h.get('state'), h.get('status'),
          _used_of(h.get('vcpus_used'), h.get('vcpus')),
          _used_of(h.get('memory_mb_used'), h.get('memory_mb')), h.get('memory_mb_free'),
          _used_of(h.get('disk_gb_used'), h.get('disk_gb')), h.get('instances'),
          h.get('last_heartbeat')) for h in hosts]))
    return 0


def do_host_show(args):
    host = args.client.host_get(args.name)
    output.emit(args, host, lambda: output.format_record(host, HOST_SHOW_FIELDS))
    return 0


def register(commands):
    host = output.group(commands, 'host', 'Compute hosts.')
    output.leaf(host, 'list', do_host_list, 'List the hosts with their state and capacity.')
    leaf = output.leaf(host, 'show', do_host_show, 'Show one host.')
    leaf.add_argument('name', metavar='NAME')
