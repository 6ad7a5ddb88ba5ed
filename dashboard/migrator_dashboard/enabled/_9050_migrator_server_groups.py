PANEL = 'migration_server_groups'
PANEL_DASHBOARD = 'admin'
PANEL_GROUP = 'migrator'
ADD_PANEL = 'migrator_dashboard.panels.server_groups.panel.ServerGroups'
