from oslo_config import cfg

group = cfg.OptGroup('metrics', title='Prometheus metrics',
                     help='The API serves its metrics at /metrics on its own port (so does '
                          'migrator-all, for every service in it); migrator-conductor and '
                          'each migrator-compute serve theirs on a port of their own.')

opts = [
    cfg.BoolOpt('enabled', default=True,
                help='Serve Prometheus metrics (/metrics on the API, and the conductor\'s '
                     'and agents\' metrics ports).'),
    cfg.HostAddressOpt('host', default='127.0.0.1',
                       help='Address the conductor\'s and the agents\' metrics endpoints '
                            'listen on.'),
    cfg.PortOpt('conductor_port', default=9778,
                help='Port of migrator-conductor\'s metrics endpoint; 0 serves none.'),
    cfg.PortOpt('compute_port', default=9779,
                help='Port of migrator-compute\'s metrics endpoint; 0 serves none. Each '
                     'agent on one machine needs a port of its own.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
