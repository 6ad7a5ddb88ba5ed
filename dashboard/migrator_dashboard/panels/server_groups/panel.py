import horizon
from django.utils.translation import gettext_lazy as _

from migrator_dashboard.common import roles


class ServerGroups(horizon.Panel):
    name = _('Server Groups')
    slug = 'migration_server_groups'
    permissions = roles.VIEW_PERMISSIONS
