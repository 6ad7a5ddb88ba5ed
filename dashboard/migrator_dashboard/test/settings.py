"""Django settings for the plugin's unit tests: Horizon's own test settings plus the
plugin's enabled files, as a deployment adds them to openstack_dashboard/local/enabled."""

from openstack_dashboard.test.settings import *  # noqa: F403
from openstack_dashboard.utils import settings as settings_utils

from migrator_dashboard import enabled as migrator_enabled

_plugin_config = {}
_plugin_apps = []
settings_utils.update_dashboards([migrator_enabled], _plugin_config, _plugin_apps)
HORIZON_CONFIG['panel_customization'] = (  # noqa: F405
    HORIZON_CONFIG['panel_customization'] + _plugin_config['panel_customization'])  # noqa: F405
HORIZON_CONFIG['plugins'] = HORIZON_CONFIG['plugins'] + _plugin_apps  # noqa: F405
INSTALLED_APPS[0:0] = _plugin_apps  # noqa: F405

# The migrator API is never reached: the tests stub the client module.
MIGRATOR_API_TIMEOUT = 2
