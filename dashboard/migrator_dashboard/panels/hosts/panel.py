import horizon
from django.utils.translation import gettext_lazy as _

from migrator_dashboard.common import roles


class Hosts(horizon.Panel):
    name = _('Hosts')
    slug = 'migration_hosts'
    permissions = roles.VIEW_PERMISSIONS
