import horizon
from django.utils.translation import gettext_lazy as _

from migrator_dashboard.common import roles


class Rebalance(horizon.Panel):
    name = _('Rebalance')
    slug = 'rebalance'
    permissions = roles.VIEW_PERMISSIONS
