"""The version of the installed migrator (what each service reports of itself)."""

import functools
from importlib import metadata


@functools.cache
def version_string():
    """Read once per process: importlib.metadata parses the package's METADATA file on every
    call, and an agent put it in every report (a fifth of a simulated agent's report time
    in benchmarks/agent_scale.py)."""
    try:
        return metadata.version('migrator')
    except metadata.PackageNotFoundError:
        return 'unknown'
