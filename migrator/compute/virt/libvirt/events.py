"""The libvirt event loop: one per process, in a thread of its own.

libvirt delivers domain events (lifecycle, job completed) and connection keep-alives only
while someone runs virEventRunDefaultImpl, and the default implementation must be registered
before the first connection is opened. migrator-all runs several agents in one process, so
this is process-wide and started once.
"""

import threading

import libvirt
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_thread = None


def start_event_loop():
    global _thread
    with _lock:
        if _thread is not None:
            return
        libvirt.virEventRegisterDefaultImpl()
        _thread = threading.Thread(target=_run, name='libvirt-events', daemon=True)
        _thread.start()


def _run():
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            LOG.exception('libvirt event loop iteration failed')
