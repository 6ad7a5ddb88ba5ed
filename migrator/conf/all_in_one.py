from oslo_config import cfg

group = cfg.OptGroup('all', title='migrator-all options (every service in one process)')

opts = [
    cfg.StrOpt('sandbox_state_dir', default='/var/lib/migrator-sandbox',
               help='State directory of a sandbox cluster. When its cluster.json exists, '
                    'migrator-all runs one compute agent for each of its hosts.'),
    cfg.ListOpt('compute_hosts', default=[],
                help='Compute agents to run in this process besides the sandbox\'s, as '
                     'name=libvirt-uri pairs, e.g. node1=qemu+tcp://10.0.0.5/system.'),
    cfg.BoolOpt('sync_db', default=True,
                help='Bring the database schema up to date at start-up.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
