# The "Migrations" panel group of Horizon's Admin dashboard.
from django.utils.translation import gettext_lazy as _

PANEL_GROUP = 'migrator'
PANEL_GROUP_NAME = _('Migrations')
PANEL_GROUP_DASHBOARD = 'admin'
