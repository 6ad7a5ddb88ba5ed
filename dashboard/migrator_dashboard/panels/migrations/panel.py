import horizon
from django.utils.translation import gettext_lazy as _

from migrator_dashboard.common import reader_access, roles


class Migrations(horizon.Panel):
    name = _('Migrations')
    slug = 'migrations'
    permissions = roles.VIEW_PERMISSIONS


# Imported by Horizon while it loads the plugins' panels, before it builds the URLs.
reader_access.open_admin_dashboard()
