"""GET /v1/hosts, GET /v1/hosts/{name}; drain and undrain below a host (drains.py)."""

import collections

import pecan
from pecan import expose, rest

from migrator.api import views
from migrator.api.controllers.v1 import drains, utils


class HostsController(rest.RestController):
    drain = drains.HostDrainController()
    undrain = drains.HostUndrainController()

    @expose('json')
    def get_all(self, **kwargs):
        utils.check_params(kwargs, ())
        db = pecan.request.db
        counts = collections.Counter(i.get('host') for i in db.instance_list())
        return {'hosts': [views.host(h, counts.get(h['name'], 0)) for h in db.host_list()]}

    @expose('json')
    def get_one(self, host_name, **kwargs):
        utils.check_params(kwargs, ())
        db = pecan.request.db
        record = db.host_get(host_name)
        return views.host(record, len(db.instance_list(host=record['name'])))
