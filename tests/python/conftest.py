"""Fixtures of the Python tests; the helpers they share are in emulator_world.py."""

import subprocess

import pytest

from emulator_world import emulator_process, rotator_bin


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The emulator after one `akv-rotator once`: the demo app's token is in the vault."""
    with emulator_process(tmp_path_factory.mktemp("consumer")) as info:
        once = subprocess.run(
            [rotator_bin(), "once", "--config", info["config"], "--output", "json"],
            capture_output=True,
            text=True,
        )
        assert once.returncode == 0, once.stderr
        yield info
