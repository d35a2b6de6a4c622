"""The Python consumer example (examples/consumers/python/consumer.py) against the emulator:
the rotator writes a token, the consumer reads it with the official SDK, calls the emulator's
Power BI API with it, caches it until the contract's margin, and reads again after 401."""

import datetime as dt
import ssl
import sys

import pytest

from emulator_world import REPO, groups_url, secret_client

sys.path.insert(0, str(REPO / "examples" / "consumers" / "python"))
import consumer  # noqa: E402


@pytest.fixture()
def reader(world):
    return consumer.TokenReader(secret_client(world), "example-powerbi-token")


def tls(world):
    return ssl.create_default_context(cafile=world["ca_cert"])


def test_the_consumer_calls_power_bi_with_the_stored_token_and_caches_it(world, reader):
    answer = consumer.call(reader, groups_url(world), context=tls(world))
    assert "value" in answer
    consumer.call(reader, groups_url(world), context=tls(world))
    assert reader.reads == 1, "cached until expires-on minus the margin"
    # Within the margin of the end: read again.
    near_end = reader._expires - consumer.MARGIN + dt.timedelta(seconds=1)
    reader.token(now=near_end)
    assert reader.reads == 2


def test_a_401_reads_the_token_again_and_retries(world, reader):
    reader.token()
    reader._token = "not-a-token"  # as if the cached token had been revoked
    answer = consumer.call(reader, groups_url(world), context=tls(world))
    assert "value" in answer
    assert reader.reads == 2
