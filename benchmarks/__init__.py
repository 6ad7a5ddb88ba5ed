"""Benchmarks: each module a script (`python -m benchmarks.<name>`), printing figures and
ratios against a baseline measured in the same run (doc/source/contributor/benchmarks.rst).

Every benchmark talks to the sandbox's libvirt daemons, and many of its calls are lookups
that miss on purpose ("is the guest still here?"). libvirt's default error handler prints
each miss to stderr, where it reads like a fault; the agent's own handler, installed here
for every benchmark, drops the expected misses and logs the rest.
"""

from migrator.compute.virt.libvirt import events as _libvirt_events

_libvirt_events.register_error_handler()
