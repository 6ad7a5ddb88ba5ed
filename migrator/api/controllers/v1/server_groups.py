"""POST/GET /v1/server-groups[?limit=&marker=], GET/DELETE /v1/server-groups/{id-or-name},
POST /v1/server-groups/{id-or-name}/members, DELETE .../members/{instance}"""

import pecan
from pecan import expose, rest

from migrator.api import policy, scheduler_schemas, schemas, views
from migrator.api.controllers.v1 import utils


class MembersController(rest.RestController):
    """Members of one group; the group's id or name comes first in the path."""

    @expose('json')
    def post(self, group_ident, **kwargs):
        policy.authorize('migrator:server_group:add_member')
        request = pecan.request
        body = schemas.validate(scheduler_schemas.SERVER_GROUP_MEMBER,
                                schemas.parse_json(request.body))
        db = request.db
        instance = db.instance_get(body['instance'])
        group = db.server_group_add_member(group_ident, instance['uuid'])
        return views.server_group(group)

    @expose('json')
    def delete(self, group_ident, instance_ident, **kwargs):
        policy.authorize('migrator:server_group:remove_member')
        utils.check_params(kwargs, ())
        db = pecan.request.db
        group = db.server_group_get(group_ident)
        try:
            instance_uuid = db.instance_get(instance_ident)['uuid']
        except Exception:  # noqa: BLE001 - a member whose instance is gone is removed by uuid
            instance_uuid = instance_ident
        return views.server_group(db.server_group_remove_member(group['id'], instance_uuid))


class ServerGroupsController(rest.RestController):
    members = MembersController()

    @expose('json')
    def get_all(self, **kwargs):
        policy.authorize('migrator:server_group:list')
        params = utils.check_params(kwargs, ('limit', 'marker'))
        limit = utils.page_limit(params['limit'])
        records = pecan.request.db.server_group_list(limit=limit, marker=params['marker'])
        return utils.paged({}, 'server_groups', [views.server_group(g) for g in records],
                           utils.next_link('server-groups', params, records, limit, 'id'))

    @expose('json')
    def get_one(self, group_ident, **kwargs):
        policy.authorize('migrator:server_group:get')
        utils.check_params(kwargs, ())
        return views.server_group(pecan.request.db.server_group_get(group_ident))

    @expose('json')
    def post(self, **kwargs):
        policy.authorize('migrator:server_group:create')
        request = pecan.request
        body = schemas.validate(scheduler_schemas.SERVER_GROUP_CREATE,
                                schemas.parse_json(request.body))
        db = request.db
        members = [db.instance_get(ident)['uuid'] for ident in body['members']]
        group = db.server_group_create(body['name'], body['policy'], members)
        pecan.response.status = 201
        pecan.response.headers['Location'] = (
            f"{request.application_url}/v1/server-groups/{group['id']}")
        return views.server_group(group)

    @expose('json')
    def delete(self, group_ident, **kwargs):
        policy.authorize('migrator:server_group:delete')
        utils.check_params(kwargs, ())
        pecan.request.db.server_group_delete(group_ident)
        pecan.response.status = 204
