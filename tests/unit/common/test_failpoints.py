import threading

import pytest

from migrator.common import failpoints


@pytest.fixture
def points(monkeypatch):
    def set_env(value):
        monkeypatch.setenv(failpoints.ENV, value)
        monkeypatch.setattr(failpoints, '_points', None)
    yield set_env
    monkeypatch.setattr(failpoints, '_points', None)


def test_inert_without_the_variable(points, monkeypatch):
    monkeypatch.delenv(failpoints.ENV, raising=False)
    monkeypatch.setattr(failpoints, '_points', None)
    assert failpoints.hit('compute.job_done') is False


def test_drop_once_and_always(points):
    points('compute.job_done=drop; other=drop*')
    assert [failpoints.hit('compute.job_done') for _ in range(3)] == [True, False, False]
    assert [failpoints.hit('other') for _ in range(3)] == [True, True, True]
    assert failpoints.hit('unnamed') is False


def test_pause_holds_the_first_thread_until_the_file_appears(points, tmp_path):
    gate = tmp_path / 'go'
    points(f'conductor.live.preparing=pause:{gate}')
    passed = threading.Event()
    thread = threading.Thread(target=lambda: (failpoints.hit('conductor.live.preparing'),
                                              passed.set()))
    thread.start()
    reached = tmp_path / 'go.reached'
    for _ in range(100):
        if reached.exists():
            break
        passed.wait(0.05)
    assert reached.exists() and not passed.is_set()
    gate.touch()
    thread.join(10)
    assert passed.is_set()
    assert failpoints.hit('conductor.live.preparing') is False   # once only


def test_a_bad_spec_is_refused(points):
    points('x=explode')
    with pytest.raises(ValueError, match='is not name=pause:PATH'):
        failpoints.hit('x')


def test_points_from_a_file_are_armed_and_disarmed_while_running(points, tmp_path):
    spec = tmp_path / 'points'
    points(f'@{spec}')
    assert failpoints.hit('compute.job_done') is False      # no file: none
    spec.write_text('compute.job_done=drop')
    assert [failpoints.hit('compute.job_done') for _ in range(2)] == [True, False]
    spec.write_text('compute.job_done=drop\n')               # changed: counted afresh
    assert failpoints.hit('compute.job_done') is True
    spec.write_text('')
    assert failpoints.hit('compute.job_done') is False
