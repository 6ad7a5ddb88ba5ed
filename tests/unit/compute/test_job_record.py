"""The job record a restarted agent re-attaches from (kept in the domain's metadata)."""

import json

from migrator.compute.virt.libvirt import job_record


class MetadataDomain:
    """Keeps what setMetadata writes, as libvirt gives it back."""

    def __init__(self):
        self.xml = None

    def setMetadata(self, kind, xml, prefix, uri, flags):
        self.xml = xml

    def metadata(self, kind, uri, flags):
        return self.xml


def test_a_record_written_reads_back_the_same():
    record = job_record.make('m-1', 'conductor1', 'host1', 'qemu+tcp://127.0.0.3/system', 27,
                             {'max_downtime_ms': 500, 'note': '<&>'}, 2 ** 28)
    dom = MetadataDomain()
    job_record.write(dom, record)
    assert job_record.read(dom) == json.loads(json.dumps(record))


def test_foreign_or_broken_metadata_is_no_record():
    assert job_record.parse('<migration>not json</migration>') is None
    assert job_record.parse('<migration>{"other": 1}</migration>') is None
    assert job_record.parse('<migration') is None


def test_a_job_started_long_after_the_record_is_not_its_job():
    record = {'migration_id': 'm-1', 'started_at': 1000.0}
    # The job libvirt reports started 2 s after the record was written: ours.
    assert job_record.describes_job(record, elapsed_ms=8000, now=1010.0)
    # Started an hour later (someone else's migration of a domain with an old record).
    assert not job_record.describes_job(record, elapsed_ms=1000, now=4600.0)
