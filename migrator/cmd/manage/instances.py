"""`migrator-manage instance ...`."""

from migrator.cmd.manage import output

INSTANCE_SHOW_FIELDS = ('uuid', 'name', 'host', 'power_state', 'vcpus', 'memory_mb',
                        'disk_gb', 'migration_id', 'created_at', 'updated_at')


def do_instance_list(args):
    instances = args.client.instance_list(host=args.host)
    output.emit(args, {'instances': instances}, lambda: output.format_table(
        ['UUID', 'Name', 'Host', 'Power state', 'vCPUs', 'Memory MB', 'Disk GB', 'Migration'],
        [(i.get('uuid'), i.get('name'), i.get('host'), i.get('power_state'), i.get('vcpus'),
          i.get('memory_mb'), i.get('disk_gb'), i.get('migration_id')) for i in instances]))
    return 0


def do_instance_show(args):
    instance = args.client.instance_get(args.instance)
    instance['observations'] = args.client.instance_observations(instance['uuid'])

    def text():
        shown = output.format_record(instance, INSTANCE_SHOW_FIELDS)
        return shown + '\n' + format_observations(instance['observations'])

    output.emit(args, instance, text)
    return 0


def format_observations(observations):
    """What the instance's completed live migrations showed (the forecast learns from it)."""
    if not observations:
        return 'Observed in live migrations: none yet'
    mib = 2 ** 20
    return 'Observed in live migrations (newest first):\n' + output.format_table(
        ['Time', 'Migration', 'Dirty MiB/s', 'Sent MiB/s', 'Effective MiB/s',
         'Working set MiB', 'Iterations', 'Duration s', 'Overhead s', 'Downtime ms',
         'Cap MiB/s'],
        [(o.get('time'), o.get('migration_id'),
          _scaled(o.get('dirty_rate'), mib), _scaled(o.get('transfer_rate'), mib),
          _scaled(o.get('effective_rate'), mib),
          _scaled(o.get('working_set_bytes'), mib), o.get('iterations'),
          o.get('duration_seconds'), o.get('overhead_seconds'), o.get('downtime_ms'),
          o.get('bandwidth_mib') or '-')
         for o in observations])


def _scaled(value, unit):
    return None if value is None else round(value / unit, 1)


def register(commands):
    instance = output.group(commands, 'instance', 'Instances (VMs) the hosts report.')
    leaf = output.leaf(instance, 'list', do_instance_list, 'List the instances.')
    leaf.add_argument('--host', help='Only the instances on this host.')
    leaf = output.leaf(instance, 'show', do_instance_show, 'Show one instance.')
    leaf.add_argument('instance', metavar='ID', help='UUID or name.')
