"""[upgrade_levels]: the RPC API version each client may send, for rolling upgrades."""

from oslo_config import cfg

group = cfg.OptGroup(
    'upgrade_levels', title='RPC version pins for rolling upgrades',
    help='While services of two releases run together, pin the RPC API of a service to the '
         'version its oldest running copy understands. Clients then send nothing newer: '
         'they leave out arguments that version does not know, and a request that needs a '
         'newer version fails with an error naming the service to upgrade. Unset the pins '
         'once every service runs the new release.')

VERSION_PATTERN = r'^[0-9]+\.[0-9]+$'

opts = [
    cfg.StrOpt('conductor', regex=VERSION_PATTERN,
               help='Highest conductor RPC API version the API service and the compute '
                    'agents send (for example 1.5), while some conductors run an older '
                    'release. Unset: the version of this release.'),
    cfg.StrOpt('compute', regex=VERSION_PATTERN,
               help='Highest compute agent RPC API version the conductors send (for example '
                    '1.5), while some agents run an older release. Unset: the version of '
                    'this release.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
