"""The version of the installed migrator (what each service reports of itself)."""

from importlib import metadata


def version_string():
    try:
        return metadata.version('migrator')
    except metadata.PackageNotFoundError:
        return 'unknown'
