from oslo_config import cfg

group = cfg.OptGroup('libvirt', title='libvirt driver options')

opts = [
    cfg.StrOpt('connection_uri', default='qemu:///system',
               help='libvirt URI of this host\'s hypervisor.'),
    cfg.StrOpt('virt_type', default='kvm', choices=['kvm', 'qemu'],
               help='Domain type of the guests: kvm (hardware acceleration) or qemu (TCG, '
                    'for nested or test set-ups).'),
    cfg.StrOpt('migration_uri', default=None,
               help='libvirt URI other hosts use to reach this host for peer-to-peer '
                    'migration. Defaults to connection_uri when that is a remote URI, else '
                    'qemu+tcp://<host>/system.'),
    cfg.StrOpt('images_path', default='/var/lib/libvirt/images',
               help='Directory of this host\'s local disk images.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
