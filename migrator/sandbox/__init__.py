"""A real multi-host libvirt cluster on one machine, for tests and benchmarks.

``migrator-manage sandbox up`` starts N libvirtd daemons, each in its own
mount+UTS namespace (so each one believes it is a different host), with real
QEMU guests that boot a tiny Linux, dirty memory and tick on their serial
console.  The cluster is described in ``<state-dir>/cluster.json``; read it
with :func:`migrator.sandbox.cluster.load`.  See doc/sandbox.rst.
"""
