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
