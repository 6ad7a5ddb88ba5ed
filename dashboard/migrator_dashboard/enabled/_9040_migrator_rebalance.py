PANEL = 'rebalance'
PANEL_DASHBOARD = 'admin'
PANEL_GROUP = 'migrator'
ADD_PANEL = 'migrator_dashboard.panels.rebalance.panel.Rebalance'
