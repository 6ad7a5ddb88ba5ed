import horizon
from django.utils.translation import gettext_lazy as _

from migrator_dashboard.common import roles


class Instances(horizon.Panel):
    name = _('Instances')
    slug = 'migration_instances'
    permissions = roles.VIEW_PERMISSIONS
