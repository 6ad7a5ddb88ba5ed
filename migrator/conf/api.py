from oslo_config import cfg

group = cfg.OptGroup('api', title='REST API options')

opts = [
    cfg.HostAddressOpt('host_ip', default='127.0.0.1',
                       help='Address the API listens on. With [DEFAULT] auth_strategy = '
                            'noauth only a loopback address is allowed.'),
    cfg.PortOpt('port', default=9777, help='TCP port the API listens on.'),
    cfg.IntOpt('threads', default=8, min=1,
               help='Worker threads of the WSGI server.'),
    cfg.IntOpt('max_limit', default=1000, min=1,
               help='Largest page a list request may ask for with limit.'),
    cfg.IntOpt('default_limit', default=50, min=1,
               help='Page size of list requests that give no limit.'),
    cfg.URIOpt('public_endpoint', default=None, schemes=['http', 'https'],
               help='URL clients reach the API at (e.g. https://migrator.example.com:9777 '
                    'behind a TLS-terminating proxy), used as the base of the links the API '
                    'returns (version documents, Location headers, the next page of a '
                    'list). Unset: the address the server is bound to, or the host a '
                    'trusted proxy forwards when [oslo_middleware] '
                    'enable_proxy_headers_parsing is on. The request\'s own Host header '
                    'is never used for links: a client can forge it.'),
    cfg.FloatOpt('read_cache_ttl', default=1.0, min=0.0,
                 help='Seconds the API may answer a GET of hosts, instances, migrations '
                      '(lists and single documents) or /v1 from its cache of identical '
                      'requests (same path, query, microversion, caller identity and '
                      'roles) instead of reading the database again: the bound on how much '
                      'older than the database an answer can be. Every write committed by '
                      'this process (the API, and migrator-all\'s conductor) empties the '
                      'cache at once; writes of other processes are seen within this time. '
                      'The default, 1 s, is small beside what a host document already '
                      'lags ([compute] report_interval, 10 s, between reports) and turns a '
                      'burst of identical reads into one database read per second. 0 turns '
                      'the cache off.'),
    cfg.IntOpt('rpc_timeout', default=30, min=1,
               help='Seconds the API waits for the conductor to answer a placement check.'),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts():
    return {group: opts}
