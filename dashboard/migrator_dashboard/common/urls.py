"""URL pieces shared by the panels."""

# Migration, drain and plan ids are UUIDs. The Migrations panel is the Admin dashboard's
# default panel, so its detail pages live at /admin/<uuid>/: matching only UUIDs keeps the
# pattern from swallowing other paths under /admin/.
UUID = r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
