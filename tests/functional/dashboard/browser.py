"""Headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, with what
every browser test checks: a page that does not load, and errors in the browser console."""

import os

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
# Generous: a page of Horizon takes 3-10 s on two busy cores.
PAGE_TIMEOUT = 90
# Titles of Horizon's error pages.
ERROR_TITLES = ('server error', 'not found', 'forbidden', 'unauthorized')


def start_chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                '--window-size=1400,1000', '--disable-gpu'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    # The driver from the Debian package: without a Service path, Selenium Manager would try
    # to download one.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    return driver


class Browser:
    def __init__(self, driver, base_url, screenshot_dir):
        self.driver = driver
        self.base_url = base_url.rstrip('/')
        self.screenshot_dir = screenshot_dir
        self.console_errors = []
        self._shots = 0

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, condition, what, timeout=PAGE_TIMEOUT):
        """condition(driver) until it is truthy; a stale element counts as not yet."""
        def check(driver):
            try:
                return condition(driver)
            except (NoSuchElementException, StaleElementReferenceException):
                return False
        return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(
            check, message=f'waiting for {what} (page {self.driver.current_url})')

    def find(self, css, timeout=PAGE_TIMEOUT):
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), css, timeout)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def exists(self, css):
        return bool(self.find_all(css))

    # -- pages ------------------------------------------------------------------------------

    def open(self, path):
        self.driver.get(self.base_url + path)
        self.wait_loaded()

    def wait_loaded(self):
        self.wait(lambda d: d.execute_script('return document.readyState') == 'complete',
                  'the page to load')
        self.assert_page_ok()

    def assert_page_ok(self):
        """Neither one of Horizon's error pages nor an error message on the page (Horizon
        shows an API error it caught as an .alert-danger)."""
        title = self.driver.title
        assert not any(t in title.lower() for t in ERROR_TITLES), (
            f'{self.driver.current_url} answered {title!r}')
        assert self.exists('body'), f'{self.driver.current_url} has no body'
        # Horizon's 404 page has a title that names no error.
        assert 'does not exist' not in self.find('body').text, (
            f'{self.driver.current_url}: the page does not exist')
        errors = [e.text for e in self.find_all('.alert-danger')]
        assert not errors, f'{self.driver.current_url} shows errors: {errors}'

    def login(self, user, password):
        self.driver.delete_all_cookies()
        self.open('/auth/login/')
        self.find('#id_username').send_keys(user)
        self.find('#id_password').send_keys(password)
        self.find('#loginBtn').click()
        self.wait(lambda d: '/auth/login' not in d.current_url, 'the login to go through')
        self.wait_loaded()

    def mark_page(self):
        """Marks the loaded document: still_same_page() is False once it was reloaded or
        left."""
        self.driver.execute_script('window.migratorTestMark = true;')

    def still_same_page(self):
        return self.driver.execute_script('return window.migratorTestMark === true;')

    def click_row_action(self, table, row, action):
        """Clicks a row action, opening the row's drop-down first when the action is not the
        first one (Horizon's ids, see the plugin's TESTING.rst). Tried again while Horizon's
        ajax update replaces the row under the cursor (a stale element)."""
        css = f'#{table}__row_{row}__action_{action}'

        def click(driver):
            element = driver.find_element(By.CSS_SELECTOR, css)
            if not element.is_displayed():
                driver.find_element(
                    By.CSS_SELECTOR, f'#{table}__row__{row} .btn-group .dropdown-toggle').click()
                if not element.is_displayed():
                    return False
            element.click()
            return True
        self.wait(click, f'{css} to be clicked')

    def mutating_actions(self):
        """Ids of the table and row actions on the page, the filters left out."""
        ids = [e.get_attribute('id') for e in self.find_all('[id*="__action_"]')]
        return [i for i in ids if not i.endswith('__action_filter')]

    def confirm(self):
        """Confirms in Horizon's modal: the action asked first."""
        self.find('.modal-footer .btn-danger, .modal-footer .btn-primary').click()

    # -- evidence ---------------------------------------------------------------------------

    def screenshot(self, name):
        self._shots += 1
        os.makedirs(self.screenshot_dir, exist_ok=True)
        path = os.path.join(self.screenshot_dir, f'{self._shots:02d}-{name}.png')
        self.driver.save_screenshot(path)
        return path

    def drain_console_errors(self):
        """SEVERE entries of the browser console since the last call (reading empties it)."""
        errors = [entry['message'] for entry in self.driver.get_log('browser')
                  if entry['level'] == 'SEVERE']
        self.console_errors += errors
        return errors
