"""Authentication options: [DEFAULT] auth_strategy and [api] http_basic_auth_user_file.

keystonemiddleware registers its own [keystone_authtoken] options; they are listed for the
sample configuration through its oslo.config namespace (keystonemiddleware.auth_token).
"""

from oslo_config import cfg

default_opts = [
    # noauth by default, as before this option existed, and refused off loopback: a fresh
    # install works on one machine, and nothing listens unauthenticated on a network.
    cfg.StrOpt('auth_strategy', default='noauth',
               choices=[('keystone', 'Keystone tokens, checked by keystonemiddleware '
                                     'auth_token ([keystone_authtoken] options).'),
                        ('http_basic', 'HTTP basic authentication against the bcrypt '
                                       'hashes of [api] http_basic_auth_user_file.'),
                        ('noauth', 'No authentication: every caller is an admin. Only '
                                   'allowed when the API listens on a loopback address.')],
               help='How the REST API authenticates its callers. Set keystone or '
                    'http_basic before [api] host_ip leaves the loopback address.'),
]

api_opts = [
    cfg.StrOpt('http_basic_auth_user_file', default='/etc/migrator/htpasswd',
               help='With auth_strategy = http_basic: the users file, one user a line, '
                    '"name:bcrypt-hash:role,role:project" (roles and project optional; '
                    '`migrator-manage user add` writes it). Re-read when it changes.'),
]


def register_opts(conf):
    conf.register_opts(default_opts)
    conf.register_opts(api_opts, group='api')


def list_opts():
    return {'DEFAULT': default_opts, 'api': api_opts}
