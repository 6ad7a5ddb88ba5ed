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
                    'migration and cold-migration disk copies. Defaults to connection_uri '
                    'when that is a remote URI, else qemu+tcp://<host>/system; with '
                    'remote_transport = tls, qemu+tls:// on the host of connection_uri (or '
                    '<host>).'),
    # Encryption of what travels between hosts (README: "Encrypted migration traffic").
    cfg.BoolOpt('live_migration_with_native_tls', default=False,
                help='Encrypt the QEMU migration stream of live and block live migrations '
                     'with QEMU\'s native TLS (VIR_MIGRATE_TLS), and the NBD stream of the '
                     'disks a block migration copies. Both hosts need x509 credentials '
                     '(ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, '
                     'client-key.pem) in the directory qemu.conf\'s '
                     'migrate_tls_x509_cert_dir (else default_tls_x509_cert_dir, else '
                     '/etc/pki/qemu) names, signed by a CA both trust; a migration to a host '
                     'without them fails with QEMU\'s reason. Set on the source host.'),
    cfg.StrOpt('remote_transport', default='tcp',
               choices=[('tcp', 'the URIs other hosts report, as they are (qemu+tcp:// by '
                                'default: unencrypted)'),
                        ('tls', 'qemu+tls:// with x509 certificates: this host reports a '
                                'qemu+tls:// migration_uri by default, and refuses to '
                                'connect to a host that reports another scheme')],
               help='Transport of the libvirt connections that go from this host to another '
                    'host\'s daemon: the peer-to-peer connection of a live migration (this '
                    'host\'s daemon to the target\'s) and the disk copy of a cold '
                    'migration (this agent to the source\'s daemon, which carries the '
                    'disks\' contents). tls needs libvirtd listening for TLS on every host '
                    '(listen_tls, with its server certificate) and client credentials here '
                    '(remote_tls_pki_path).'),
    cfg.StrOpt('remote_tls_pki_path', default=None,
               help='Directory of the x509 client credentials this host presents on '
                    'qemu+tls:// connections to other hosts: cacert.pem, clientcert.pem and '
                    'clientkey.pem (passed as libvirt\'s pkipath URI parameter, so it is '
                    'read by this agent and, for live migrations, by this host\'s '
                    'libvirtd). Unset: libvirt\'s defaults, /etc/pki/CA/cacert.pem, '
                    '/etc/pki/libvirt/clientcert.pem and '
                    '/etc/pki/libvirt/private/clientkey.pem.'),
    cfg.StrOpt('images_path', default='/var/lib/libvirt/images',
               help='Directory of this host\'s local disk images.'),
    # Convergence controls of live migration: the defaults of a request's fields of the same
    # meaning (POST /v1/migrations), recorded on each migration as it starts.
    cfg.IntOpt('live_migration_downtime', default=500, min=1, max=60000,
               help='Maximum downtime of a live migration, in milliseconds: the longest the '
                    'guest may be paused for the final copy. The job starts with a fraction '
                    'of it and raises it step by step (live_migration_downtime_steps) each '
                    'time a copy iteration does not converge.'),
    cfg.IntOpt('live_migration_downtime_steps', default=10, min=1, max=100,
               help='Steps from the first allowed downtime (live_migration_downtime / steps) '
                    'up to live_migration_downtime; one step per memory iteration that did '
                    'not converge.'),
    cfg.StrOpt('live_migration_downtime_stepping', default='auto',
               choices=[('auto', 'step the downtime, except on a source whose guests run '
                                 'under TCG (virt_type = qemu) with QEMU older than 9.0, '
                                 'where the job starts at live_migration_downtime and its '
                                 'parameters never change while it runs'),
                        ('always', 'step the downtime on every host'),
                        ('never', 'start every job at live_migration_downtime and never '
                                  'change it while the job runs')],
               help='Whether the allowed downtime of a live migration is raised step by '
                    'step while the job runs (live_migration_downtime_steps) or set once '
                    'before it starts. QEMU before 9.0 under TCG loses guest writes when a '
                    'job\'s parameters change mid-job (upstream fix "physmem: Fix migration '
                    'dirty bitmap coherency with TCG memory access"); on this project\'s '
                    'machines 9 of 150 such migrations damaged the guest\'s memory, 0 of '
                    '360 without a mid-job change. Read where the migration is accepted (the '
                    'API), from the source host\'s reported virt type and QEMU version.'),
    cfg.IntOpt('live_migration_bandwidth', default=0, min=0, max=1048576,
               help='Bandwidth cap of a live migration in MiB/s; 0 leaves it unlimited.'),
    cfg.BoolOpt('live_migration_permit_auto_converge', default=False,
                help='Let QEMU throttle the guest\'s vCPUs while a live migration does not '
                     'converge (VIR_MIGRATE_AUTO_CONVERGE).'),
    cfg.BoolOpt('live_migration_permit_post_copy', default=False,
                help='Start live migrations with post-copy permitted (VIR_MIGRATE_POSTCOPY), so '
                     'that force-complete (or the completion timeout) can switch them to '
                     'post-copy. A failure in post-copy loses the guest.'),
    cfg.IntOpt('live_migration_completion_timeout', default=800, min=0,
               help='Seconds per GiB of guest memory (plus copied disks) a live migration may '
                    'run before live_migration_timeout_action is taken; 0 disables it.'),
    cfg.StrOpt('live_migration_timeout_action', default='abort',
               choices=[('abort', 'abort the job; the migration ends cancelled and the guest '
                                  'keeps running on the source'),
                        ('force_complete', 'switch to post-copy when permitted, else pause the '
                                           'guest so that the copy finishes')],
               help='What the source agent does when the completion timeout hits.'),
    cfg.IntOpt('dirty_rate_period_seconds', default=1, min=1, max=60,
               help='Length of each page-sampling period when this agent measures a guest\'s '
                    'dirty rate for a forecast ([convergence] dirty_rate_measure_seconds '
                    'holds as many as fit). A page rewritten twice within a period counts '
                    'once: a longer period reads a guest cycling over a small working set too '
                    'low, a shorter one counts every second the pages a guest keeps '
                    'rewriting, which a pass of several seconds sends once.'),
    cfg.IntOpt('dirty_rate_long_period_seconds', default=6, min=0, max=60,
               help='Length of one longer page-sampling period that ends a dirty-rate '
                    'measurement, when the time asked leaves room for it and two periods of '
                    'dirty_rate_period_seconds: what the guest dirties over it, against its '
                    'rate over the short periods, shows the working set it keeps rewriting '
                    '(a pass of pre-copy longer than that resends the working set, no '
                    'more). 0: none.'),
    # Surviving a libvirtd restart (compute/virt/libvirt/connection.py).
    cfg.FloatOpt('reconnect_interval', default=0.2, min=0.01,
                 help='Seconds before the first attempt to reopen a lost connection to '
                      'libvirtd; doubled after each failed attempt up to '
                      'reconnect_interval_max.'),
    cfg.FloatOpt('reconnect_interval_max', default=2.0, min=0.01,
                 help='Longest wait between two attempts to reopen a lost connection to '
                      'libvirtd: how late, at most, the agent notices the daemon is back.'),
    cfg.FloatOpt('reconnect_wait', default=45.0, min=0.0,
                 help='Seconds a request that needs libvirtd waits for a lost connection to '
                      'come back before it fails (a libvirtd restart takes ~30 s to stop '
                      'and a few to start). Keep it below [conductor] compute_rpc_timeout.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
