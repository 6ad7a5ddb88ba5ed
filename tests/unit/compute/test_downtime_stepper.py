from migrator.compute.virt.libvirt import migration


def test_first_observation_sets_the_lowest_step_then_one_step_per_new_iteration():
    stepper = migration.DowntimeStepper(300, 3)
    assert stepper.observe(None) is None
    assert stepper.observe(1) == 100
    assert stepper.observe(1) is None          # same iteration: nothing to change
    assert stepper.observe(2) == 200
    assert stepper.observe(4) == 300
    assert stepper.observe(5) is None          # at the maximum
    assert stepper.current == 300


def test_flags_and_params_from_controls():
    flags, params = migration.flags_and_params(
        {'bandwidth_mib': 16, 'auto_converge': True, 'post_copy': False}, 1, {'x': 1})
    assert params == {'x': 1, migration.libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 16}
    assert flags & migration.libvirt.VIR_MIGRATE_AUTO_CONVERGE
    assert not flags & migration.libvirt.VIR_MIGRATE_POSTCOPY
    flags, params = migration.flags_and_params({'bandwidth_mib': 0, 'post_copy': True}, 1, {})
    assert params == {} and flags & migration.libvirt.VIR_MIGRATE_POSTCOPY


def test_iterations_missed_between_two_looks_each_raise_it_one_step():
    stepper = migration.DowntimeStepper(500, 10)
    assert stepper.observe(1) == 50
    assert stepper.observe(4) == 200           # passes 1, 2 and 3 ended unconverged
    assert stepper.observe(30) == 500          # capped at the maximum


class DowntimeDomain:
    def __init__(self):
        self.downtimes = []

    def UUIDString(self):
        return '0d0c3a5e-0000-4000-8000-000000000002'

    def migrateSetMaxDowntime(self, downtime, flags):
        self.downtimes.append(downtime)


def test_the_iteration_event_steps_the_downtime_without_waiting_for_a_sample():
    dom = DowntimeDomain()
    job = migration.LiveMigrationJob(dom, 'qemu+tcp://h2/system', 0, {}, lambda s: None,
                                     lambda o: None, 60,
                                     controls={'max_downtime_ms': 300, 'downtime_steps': 3})
    job.iteration_started(1)
    job.iteration_started(2)
    job.iteration_started(2)                   # the sample that sees it later changes nothing
    assert dom.downtimes == [100, 200]
    job.job_completed({})
    job.iteration_started(3)                   # after the end: the job is gone, leave it
    assert dom.downtimes == [100, 200]


class JobDomain(DowntimeDomain):
    """Records the order of what the job is asked: the downtime, then the migration."""

    def __init__(self, refuse_downtime=False):
        super().__init__()
        self.calls = []
        self.refuse_downtime = refuse_downtime

    def migrateSetMaxDowntime(self, downtime, flags):
        if self.refuse_downtime:
            raise migration.libvirt.libvirtError('Requested operation is not valid')
        self.calls.append(('downtime', downtime))
        super().migrateSetMaxDowntime(downtime, flags)

    def migrateToURI3(self, uri, params, flags):
        self.calls.append(('migrate', uri))


def _run_job(dom, steps):
    done = []
    job = migration.LiveMigrationJob(dom, 'qemu+tcp://h2/system', 0, {}, lambda s: None,
                                     done.append, 60,
                                     controls={'max_downtime_ms': 300, 'downtime_steps': steps})
    job._started = migration.time.monotonic()
    job._migrate()              # the body of the job's thread, here in the test's
    return job, done


def test_one_step_is_set_before_the_job_and_never_changed_while_it_runs():
    dom = JobDomain()
    job, done = _run_job(dom, 1)
    assert dom.calls == [('downtime', 300), ('migrate', 'qemu+tcp://h2/system')]
    for iteration in (1, 2, 5):
        job._step_downtime(iteration)
    assert dom.downtimes == [300]
    assert done and done[0]['success']


def test_steps_start_before_the_job_and_rise_from_the_second_iteration():
    dom = JobDomain()
    job, _done = _run_job(dom, 3)
    assert dom.calls[0] == ('downtime', 100)
    job._step_downtime(1)                   # the first pass: already at the first step
    job._step_downtime(2)
    assert dom.downtimes == [100, 200]


def test_a_refused_preset_leaves_the_first_step_to_the_first_iteration():
    dom = JobDomain(refuse_downtime=True)
    job, _done = _run_job(dom, 3)
    assert dom.calls == [('migrate', 'qemu+tcp://h2/system')]
    dom.refuse_downtime = False
    job._step_downtime(1)
    assert dom.downtimes == [100]
