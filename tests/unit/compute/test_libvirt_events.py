"""libvirt's error handler and the hand-off from the event loop."""

import threading

import libvirt

from migrator.compute.virt.libvirt import events


def _error(code, domain, message):
    # libvirt passes (code, domain, message, level, str1, str2, str3, int1, int2).
    return (code, domain, message, 2, None, None, None, 0, 0)


def test_expected_lookup_misses_are_not_logged(caplog):
    caplog.set_level('DEBUG', logger=events.__name__)
    events._error_handler(None, _error(libvirt.VIR_ERR_NO_STORAGE_POOL,
                                       libvirt.VIR_FROM_STORAGE,
                                       "Storage pool not found: no storage pool 'default'"))
    events._error_handler(None, _error(libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU,
                                       'Domain not found'))
    assert caplog.records == []


def test_a_connection_error_is_a_warning_and_others_debug(caplog):
    caplog.set_level('DEBUG', logger=events.__name__)
    events._error_handler(None, _error(libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC,
                                       'End of file while reading data'))
    events._error_handler(None, _error(libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU,
                                       'something else'))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ('WARNING', 'libvirt connection error: End of file while reading data'),
        ('DEBUG', f'libvirt error {libvirt.VIR_ERR_INTERNAL_ERROR} (domain '
                  f'{libvirt.VIR_FROM_QEMU}): something else')]


def test_dispatched_work_runs_in_order_in_another_thread():
    events.start_event_loop()
    seen = []
    done = threading.Event()
    for i in range(3):
        events.dispatch(lambda i=i: seen.append((i, threading.current_thread().name)))
    events.dispatch(done.set)
    assert done.wait(10)
    assert seen == [(0, 'libvirt-dispatch'), (1, 'libvirt-dispatch'), (2, 'libvirt-dispatch')]
