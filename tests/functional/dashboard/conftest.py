import os
import re
import shutil

import pytest

from tests.functional.dashboard import browser as browser_mod
from tests.functional.dashboard import stack as stack_mod

# A 5xx answer in the request log of Django's server, or a traceback anywhere in Horizon's log.
SERVER_ERROR = re.compile(r'" 5\d\d \d|Traceback \(most recent call last\)')
DOC_IMAGES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc', 'source',
                          'images')


@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    """One stack for a module (its sandbox takes loopback addresses other modules use)."""
    if os.geteuid() != 0 or not os.path.exists('/usr/sbin/libvirtd'):
        pytest.fail('the functional tests need root and tools/install-deps.sh')
    if not os.path.exists(browser_mod.CHROMEDRIVER):
        pytest.fail('the browser tests need chromium and chromium-driver '
                    '(tools/install-deps.sh)')
    running = stack_mod.Stack(tmp_path_factory.mktemp('dashboard-stack')).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope='module')
def driver(stack):
    chromium = browser_mod.start_chromium()
    try:
        yield chromium
    finally:
        chromium.quit()


@pytest.fixture
def browser(stack, driver, tmp_path):
    """The module's Chromium for one test, with screenshots under the test's tmp path. After
    the test: a SEVERE entry in the browser console, or a 5xx or a traceback in Horizon's log
    during the test, fails it."""
    log_start = len(stack.horizon_log())
    b = browser_mod.Browser(driver, stack.horizon['url'], str(tmp_path / 'screenshots'))
    b.drain_console_errors()  # what an earlier test left
    yield b
    b.screenshot('end')
    console = b.drain_console_errors()
    server = [line for line in stack.horizon_log()[log_start:].splitlines()
              if SERVER_ERROR.search(line)]
    assert not console, f'JavaScript errors in the browser console: {console}'
    assert not server, ('Horizon answered 5xx or logged a traceback:\n'
                        + stack.horizon_log()[log_start:][-6000:])


@pytest.fixture
def admin(browser, stack):
    browser.login('admin', stack.password('admin'))
    return browser


def save_doc_image(path, name):
    """Copies a screenshot into doc/source/images for the documentation."""
    os.makedirs(DOC_IMAGES, exist_ok=True)
    shutil.copyfile(path, os.path.join(DOC_IMAGES, name))
