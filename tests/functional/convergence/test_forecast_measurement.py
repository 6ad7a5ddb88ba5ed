"""A dry run's forecast measures the guest on its real hypervisor: QEMU's page sampling over
short periods and one long one (the working set), and how busy its vCPU is. The guest
rewrites its 32 MiB working set at 32 MiB/s (see conftest): over the 6 s period it dirties
that working set, not six seconds' worth; and it writes it in one burst a second, which its
vCPU's trace shows.
"""

import pytest

from tests.functional.convergence.conftest import BANDWIDTH_MIB
from tests.functional.service import processes

MIB = 2 ** 20


def test_the_dry_run_measures_the_rate_working_set_and_vcpu_of_a_running_guest(
        service, guest):
    api = processes.ApiClient(service.url, version='1.11')
    before = api.get('/v1/migrations').json()['migrations']
    body = {'instance': guest, 'type': 'live', 'dry_run': True,
                  'bandwidth_mib': BANDWIDTH_MIB, 'completion_timeout_per_gib': 0}
    response = api.post('/v1/migrations', body)
    assert response.status_code == 200, response.text
    forecast = response.json()['dry_run']['forecast']
    figures = forecast['figures']
    assert figures['dirty_rate_source'] == 'measured', figures
    note = figures['dirty_rate_note']
    assert 'page-sampling' in note and '+ 1 x 6 s' in note, note
    # A TCG guest on a busy machine falls short of its nominal 32 MiB/s, never by this much.
    assert figures['dirty_rate'] > 8 * MIB, figures
    assert figures['working_set_source'] == 'measured', figures
    assert 16 * MIB <= figures['working_set_bytes'] <= 64 * MIB, figures
    # dd rewriting 32 MiB a second keeps its vCPU busy for part of each second.
    assert 0.05 < figures['vcpu_busy'] <= 1.0, figures
    # ... in one dd burst a second: a slot of the 50 ms trace at least half busy in most
    # seconds, little between.
    assert figures['writes_in_bursts'] is True, figures
    # Faster than the cap: pre-copy alone does not end, bursts or not (a pass of 1.5 s
    # always holds one).
    assert forecast['verdict'] in ('converges_with_auto_converge',
                                   'needs_post_copy_or_pause'), forecast
    assert forecast['suggested_action'] in ('auto_converge', 'post_copy'), forecast
    # Nothing was started.
    assert api.get('/v1/migrations').json()['migrations'] == before


pytestmark = pytest.mark.functional
