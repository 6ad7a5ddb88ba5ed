# The Migrations panel; it is the Admin dashboard's default panel, so that /admin/ works
# on a cloud whose catalog has no compute service (Admin's overview needs one).
PANEL = 'migrations'
PANEL_DASHBOARD = 'admin'
PANEL_GROUP = 'migrator'
DEFAULT_PANEL = 'migrations'
ADD_PANEL = 'migrator_dashboard.panels.migrations.panel.Migrations'
ADD_INSTALLED_APPS = ['migrator_dashboard']
