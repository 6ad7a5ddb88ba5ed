import socket

from oslo_config import cfg

opts = [
    cfg.StrOpt('host', default=socket.gethostname(), sample_default='<hostname>',
               help='Name of this host as the other services know it. A compute agent '
                    'registers its hypervisor under this name; it must be unique.'),
    cfg.StrOpt('state_path', default='/var/lib/migrator',
               help='Directory for the service\'s own state (the SQLite database by default).'),
]


def register_opts(conf):
    conf.register_opts(opts)


def list_opts():
    return {'DEFAULT': opts}
