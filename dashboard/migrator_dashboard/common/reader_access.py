"""Let the migrator's reader persona into Horizon's Admin dashboard.

Horizon shows the Admin dashboard to admins only (its policy rules, or its permissions when
no policy check is configured), yet the migrator's reader role may see every migration, host
and plan. Without this a reader could open /admin/ by its URL but would find no
Admin dashboard in the navigation. Each panel of the dashboard still applies its own checks
(ours: admin or reader, and the migration service in the catalog; Horizon's own panels
their policy rules), so a reader gains only the panels it may see.

Set MIGRATOR_DASHBOARD_READER_ACCESS = False in local_settings to keep Admin admin-only.
"""

import horizon
from django.conf import settings

from migrator_dashboard.common import roles

_DONE = '_migrator_reader_access'


def open_admin_dashboard():
    if not getattr(settings, 'MIGRATOR_DASHBOARD_READER_ACCESS', True):
        return
    admin = horizon.get_dashboard('admin')
    if getattr(admin, _DONE, False):
        return
    original = admin._can_access

    def _can_access(request):
        return original(request) or request.user.has_perms(roles.VIEW_PERMISSIONS)

    admin._can_access = _can_access
    # Without a policy check Horizon guards the dashboard's URLs with these permissions
    # (one tuple: any of them will do); a reader then passes to the panels' own checks.
    permissions = getattr(admin, 'permissions', None)
    if permissions and len(permissions) == 1 and isinstance(permissions[0], (tuple, list)):
        admin.permissions = (tuple(permissions[0]) + (roles.READER,),)
    setattr(admin, _DONE, True)
