"""Aborting a libvirt migration job, with a stand-in domain (no hypervisor needed)."""

import threading

import libvirt
import pytest

from migrator.compute.virt.libvirt import migration


class NoJobError(libvirt.libvirtError):
    def get_error_code(self):
        return libvirt.VIR_ERR_OPERATION_INVALID


class GoneError(libvirt.libvirtError):
    def get_error_code(self):
        return libvirt.VIR_ERR_NO_DOMAIN


class OtherError(libvirt.libvirtError):
    def get_error_code(self):
        return libvirt.VIR_ERR_INTERNAL_ERROR


class RaisingDomain:
    def __init__(self, error):
        self.error = error

    def abortJob(self):
        raise self.error('boom')


class FakeDomain:
    """abortJob answers "no job is active" until the job has started."""

    def __init__(self, job_starts_after=0):
        self.calls = 0
        self.job_starts_after = job_starts_after
        self.migrated = threading.Event()

    def UUIDString(self):
        return '0d0c3a5e-0000-4000-8000-000000000001'

    def abortJob(self):
        self.calls += 1
        if self.calls <= self.job_starts_after:
            raise NoJobError('Requested operation is not valid: no job is active')
        return 0

    def migrateToURI3(self, uri, params, flags):
        self.migrated.set()


def _job(dom, outcomes):
    return migration.LiveMigrationJob(dom, 'qemu+tcp://h2/system', 0, {}, lambda s: None,
                                      outcomes.append, 60)


def test_abort_retries_until_libvirt_has_the_job():
    dom = FakeDomain(job_starts_after=2)
    assert _job(dom, []).abort() is True
    assert dom.calls == 3


def test_abort_before_migrate_means_the_job_never_starts():
    dom = FakeDomain(job_starts_after=10 ** 6)
    outcomes = []
    job = _job(dom, outcomes)
    job._abort_requested.set()

    job._migrate()

    assert not dom.migrated.is_set()
    assert len(outcomes) == 1
    assert outcomes[0]['success'] is False
    assert outcomes[0]['error'] == 'migration aborted before the job started'
    assert job.abort() is False     # the job has ended: nothing left to cancel


def test_abort_domain_job_without_a_job_is_false():
    assert migration.abort_domain_job(FakeDomain(job_starts_after=1)) is False
    assert migration.abort_domain_job(FakeDomain()) is True


def test_abort_domain_job_after_the_domain_left_is_false():
    assert migration.abort_domain_job(RaisingDomain(GoneError)) is False


def test_abort_domain_job_other_errors_are_raised():
    with pytest.raises(libvirt.libvirtError):
        migration.abort_domain_job(RaisingDomain(OtherError))
