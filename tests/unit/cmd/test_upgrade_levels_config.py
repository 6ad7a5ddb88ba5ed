"""A bad [upgrade_levels] pin stops a service at start, saying which option is wrong."""

import pytest

from migrator import conf
from migrator.cmd import conductor


def test_a_pin_that_is_not_a_version_stops_the_service(tmp_path):
    conf.CONF.clear()   # main() parses it again (the fixture clears it afterwards)
    config = tmp_path / 'migrator.conf'
    config.write_text('[upgrade_levels]\ncompute = 1.5\nconductor = kilo\n')
    with pytest.raises(SystemExit) as stopped:
        conductor.main(['migrator-conductor', '--config-file', str(config)])
    message = str(stopped.value.code)
    assert message.startswith('Invalid [upgrade_levels] conductor:')
    assert "'kilo'" in message
