PANEL = 'migration_instances'
PANEL_DASHBOARD = 'admin'
PANEL_GROUP = 'migrator'
ADD_PANEL = 'migrator_dashboard.panels.instances.panel.Instances'
