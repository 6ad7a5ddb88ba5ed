from oslo_config import cfg

group = cfg.OptGroup('database', title='Database options')

opts = [
    cfg.StrOpt('connection', default='sqlite:////var/lib/migrator/migrator.sqlite',
               secret=True,
               help='SQLAlchemy URL of the database. SQLite is the embedded default; '
                    'PostgreSQL (postgresql+psycopg2://user@host/db) and MySQL/MariaDB '
                    '(mysql+pymysql://user:password@host/db) are supported.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
