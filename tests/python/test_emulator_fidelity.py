"""Fidelity of akv-emulator, checked by the official Azure SDK for Python.

Starts the emulator (`cargo run -p akv-emulator --example standalone`, or the binary named by
AKV_EMULATOR_CMD), reads its JSON info line, then drives Key Vault secrets through
azure-identity + azure-keyvault-secrets over HTTPS with the emulator's CA.
"""

import datetime as dt
import json
import os
import shlex
import subprocess
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential

from emulator_world import REPO, secret_client, stop


@pytest.fixture(scope="session")
def emulator():
    cmd = os.environ.get("AKV_EMULATOR_CMD")
    argv = (
        shlex.split(cmd)
        if cmd
        else ["cargo", "run", "--quiet", "-p", "akv-emulator", "--example", "standalone", "--"]
    )
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"emulator exited without an info line (code {proc.poll()})")
        info = json.loads(line)
        yield info
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def client(emulator):
    return secret_client(emulator)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_seeded_secret_readable(client):
    s = client.get_secret("example-client-secret")
    assert s.value and len(s.value) >= 20
    assert s.properties.content_type == "text/plain"
    assert s.properties.enabled is True
    assert s.properties.expires_on is not None
    assert s.properties.recoverable_days == 90
    assert s.properties.recovery_level == "Recoverable+Purgeable"
    assert s.properties.tags["client-id"]


def test_set_and_get_latest_and_by_version(client, emulator):
    name = unique("pyset")
    exp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=1)
    first = client.set_secret(name, "v1", content_type="text/plain", tags={"a": "1"}, expires_on=exp)
    assert first.value == "v1"
    assert first.name == name
    assert len(first.properties.version) == 32
    assert first.id == f"{emulator['vaults']['demo']}secrets/{name}/{first.properties.version}"
    assert first.properties.expires_on == exp
    assert first.properties.tags == {"a": "1"}
    assert first.properties.created_on is not None
    second = client.set_secret(name, "v2")
    assert second.properties.version != first.properties.version
    assert client.get_secret(name).value == "v2"
    assert client.get_secret(name, first.properties.version).value == "v1"
    versions = list(client.list_properties_of_secret_versions(name))
    assert sorted(v.version for v in versions) == sorted(
        [first.properties.version, second.properties.version]
    )


def test_list_pages_beyond_25(client):
    prefix = unique("pypage")
    names = {f"{prefix}-{i:02d}" for i in range(30)}
    for n in names:
        client.set_secret(n, "x")
    listed = [p for p in client.list_properties_of_secrets()]
    listed_names = {p.name for p in listed}
    assert names <= listed_names
    assert len(listed) >= 31
    assert all(p.version is None for p in listed)
    pages = list(client.list_properties_of_secrets(max_page_size=7).by_page())
    assert len(pages) >= 5


def test_update_properties(client):
    name = unique("pyupd")
    client.set_secret(name, "value")
    exp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=3)
    props = client.update_secret_properties(
        name, content_type="application/jwt", tags={"k": "v"}, expires_on=exp, enabled=False
    )
    assert props.content_type == "application/jwt"
    assert props.tags == {"k": "v"}
    assert props.expires_on == exp
    assert props.enabled is False
    with pytest.raises(HttpResponseError) as err:
        client.get_secret(name)
    assert err.value.status_code == 403
    assert "disabled" in str(err.value.message).lower()
    client.update_secret_properties(name, enabled=True)
    assert client.get_secret(name).value == "value"


def test_delete_recover_purge(client):
    name = unique("pydel")
    client.set_secret(name, "gone")
    deleted = client.begin_delete_secret(name).result()
    assert deleted.name == name
    assert deleted.deleted_date is not None
    assert deleted.scheduled_purge_date is not None
    assert deleted.recovery_id.endswith(f"deletedsecrets/{name}")
    with pytest.raises(ResourceNotFoundError):
        client.get_secret(name)
    assert name in {d.name for d in client.list_deleted_secrets()}
    assert client.get_deleted_secret(name).name == name
    with pytest.raises(HttpResponseError) as err:
        client.set_secret(name, "again")
    assert err.value.status_code == 409
    recovered = client.begin_recover_deleted_secret(name).result()
    assert recovered.name == name
    assert client.get_secret(name).value == "gone"
    client.begin_delete_secret(name).result()
    client.purge_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    client.set_secret(name, "reborn")
    assert client.get_secret(name).value == "reborn"


def test_missing_secret_is_404(client):
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_secret(unique("nope"))
    assert err.value.status_code == 404
    assert err.value.error.code == "SecretNotFound"


def test_invalid_name_is_400(client):
    with pytest.raises(HttpResponseError) as err:
        client.set_secret("bad_name", "x")
    assert err.value.status_code == 400
    assert err.value.error.code == "BadParameter"


def test_wrong_client_secret_fails(emulator):
    from azure.identity import CredentialUnavailableError  # noqa: F401
    from azure.core.exceptions import ClientAuthenticationError

    rot = emulator["rotator"]
    cred = ClientSecretCredential(
        rot["tenant_id"],
        rot["client_id"],
        "not-the-secret",
        authority=emulator["authority_host"],
        disable_instance_discovery=True,
        connection_verify=emulator["ca_cert"],
    )
    with pytest.raises(ClientAuthenticationError) as err:
        cred.get_token("https://vault.azure.net/.default")
    assert "AADSTS7000215" in str(err.value)
