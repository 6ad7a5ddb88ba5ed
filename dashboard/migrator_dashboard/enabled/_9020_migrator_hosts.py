PANEL = 'migration_hosts'
PANEL_DASHBOARD = 'admin'
PANEL_GROUP = 'migrator'
ADD_PANEL = 'migrator_dashboard.panels.hosts.panel.Hosts'
