"""Helpers shared by the Python tests and the programs they start: the `akv-rotator` binary,
the emulator started as a process (`akv-rotator emulator --write-config`) with the rotator config
it writes, and a Key Vault client for it with the official SDK."""

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

REPO = Path(__file__).resolve().parents[2]
JS_EXAMPLE = REPO / "examples" / "consumers" / "js"


def rotator_bin() -> str:
    path = os.environ.get("AKV_ROTATOR_BIN", str(REPO / "target" / "debug" / "akv-rotator"))
    if not Path(path).exists():
        subprocess.run(["cargo", "build", "--quiet", "-p", "akv-rotator"], cwd=REPO, check=True)
    return path


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def emulator_process(directory: Path):
    """The emulator with its default seed; yields its info (JSON line) with `config` (the rotator
    config it wrote) and `info_file` (the info line as a file, for programs in other languages)."""
    config = directory / "hand.toml"
    proc = subprocess.Popen(
        [rotator_bin(), "emulator", "--write-config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        info_file = directory / "emulator-info.json"
        info_file.write_text(line)
        yield {**info, "config": str(config), "info_file": str(info_file)}
    finally:
        stop(proc)


def secret_client(world: dict, vault: str = "demo") -> SecretClient:
    """The emulator's throwaway rotator identity against its Entra ID and Key Vault. The emulator
    serves every vault at https://localhost:PORT/ while its challenge names the real resource
    https://vault.azure.net, so the SDK's check that the vault host ends with ".vault.azure.net"
    is switched off here, for the emulator only."""
    rot = world["rotator"]
    cred = ClientSecretCredential(
        rot["tenant_id"],
        rot["client_id"],
        Path(rot["client_secret_file"]).read_text(),
        authority=world["authority_host"],
        disable_instance_discovery=True,
        connection_verify=world["ca_cert"],
    )
    return SecretClient(
        world["vaults"][vault], cred, verify_challenge_resource=False, connection_verify=world["ca_cert"]
    )


def groups_url(world: dict) -> str:
    return world["powerbi_url"].rstrip("/") + "/v1.0/myorg/groups"


def tool(name: str) -> str:
    """The path of a toolchain command; a missing one fails the test, never skips it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed: the consumer examples need it")
    return path


def javascript_example_installed() -> str:
    """`node`, once the JavaScript example's pinned packages (package-lock.json) are installed."""
    if not (JS_EXAMPLE / "node_modules" / "@azure" / "keyvault-secrets").is_dir():
        subprocess.run([tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=JS_EXAMPLE, check=True)
    return tool("node")
