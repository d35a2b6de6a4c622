"""The Python consumer example (examples/consumers/python/consumer.py) against the emulator:
the rotator writes a token, the consumer reads it with the official SDK, calls the emulator's
Power BI API with it, caches it until the contract's margin, and reads again after 401."""

import datetime as dt
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "consumers" / "python"))
import consumer  # noqa: E402


def rotator_bin() -> str:
    path = os.environ.get("AKV_ROTATOR_BIN", str(REPO / "target" / "debug" / "akv-rotator"))
    if not Path(path).exists():
        subprocess.run(["cargo", "build", "--quiet", "-p", "akv-rotator"], cwd=REPO, check=True)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    config = tmp_path_factory.mktemp("consumer") / "hand.toml"
    proc = subprocess.Popen(
        [rotator_bin(), "emulator", "--write-config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        once = subprocess.run(
            [rotator_bin(), "once", "--config", str(config), "--output", "json"],
            capture_output=True,
            text=True,
        )
        assert once.returncode == 0, once.stderr
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def reader(world):
    rot = world["rotator"]
    cred = ClientSecretCredential(
        rot["tenant_id"],
        rot["client_id"],
        Path(rot["client_secret_file"]).read_text(),
        authority=world["authority_host"],
        disable_instance_discovery=True,
        connection_verify=world["ca_cert"],
    )
    client = SecretClient(
        world["vaults"]["demo"], cred, verify_challenge_resource=False, connection_verify=world["ca_cert"]
    )
    return consumer.TokenReader(client, "example-powerbi-token")


def groups_url(world):
    return world["powerbi_url"].rstrip("/") + "/v1.0/myorg/groups"


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
