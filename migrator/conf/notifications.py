from oslo_config import cfg

group = cfg.OptGroup(
    'notifications', title='Versioned notifications',
    help='Notifications of migrations, drains and plans go out over oslo.messaging when '
         '[oslo_messaging_notifications] driver is set (messagingv2, log, ...); its '
         'transport_url defaults to [DEFAULT] transport_url.')

opts = [
    cfg.ListOpt('versioned_notifications_topics', default=['versioned_notifications'],
                help='Topics the versioned notifications are sent to (as in Nova).'),
    cfg.FloatOpt('progress_interval', default=10.0, min=0,
                 help='Seconds between two migration.progress notifications of one '
                      'migration (the agents report more often); 0 sends none.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
