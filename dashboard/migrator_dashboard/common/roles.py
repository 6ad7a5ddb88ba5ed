"""Who may see and who may change things, as the migrator API's default policy says.

The API is the authority (its policy refuses what a role may not do); the dashboard only
mirrors the two personas so that a reader is never offered an action the API would refuse.
"""

SERVICE = 'openstack.services.migration'
ADMIN = 'openstack.roles.admin'
READER = 'openstack.roles.reader'

# A panel is there when the catalog has the migrator API and the user is admin or reader
# (a nested tuple: any one of its roles will do).
VIEW_PERMISSIONS = (SERVICE, (ADMIN, READER))


def can_change(request):
    """Whether the user has the role the API's admin_api rule asks for."""
    return request.user.has_perms((ADMIN,))


class AdminOnly:
    """Mixin for table actions: shown to admins only, then as ``allowed_for`` decides."""

    def allowed(self, request, datum=None):
        return can_change(request) and self.allowed_for(request, datum)

    def allowed_for(self, request, datum):
        return True


class Confirmed:
    """Mixin for a table action that asks for confirmation first. Horizon's script confirms
    a button whose action_type is 'danger'; an action's ``classes`` are not rendered on a
    button (only on a link), so they cannot ask for it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.action_type = 'danger'
