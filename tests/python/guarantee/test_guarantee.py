"""The consumer contract's guarantee, measured (docs/consumers.md, "The guarantee").

The daemon (`akv-rotator run`) keeps the demo app's Power BI token fresh in the emulator's vault
while tokens live TOKEN_LIFETIME seconds and `refresh_before` is REFRESH_BEFORE. Two consumers,
the Python and the JavaScript examples unchanged (tests/python/guarantee/watch.py,
examples/consumers/js/emulator/watch.mjs), read the token by the contract (cache until
`expires-on` minus MARGIN, read again after, and on 401) and call the emulator's Power BI API
every few seconds for five token lifetimes, while this test samples the current version's
remaining life every second. The emulator allows no clock skew here: it rejects a token the second
it expires, and before its `nbf`.

It fails if any call was answered anything but 200, went out with a token past its `exp` or
before its `nbf` (by the token's own claims), or if the smallest remaining life of the current
version (seen by a consumer at read time, or by the sampler) is below the promised margin:
`refresh_before/2` (the latest moment a token comes due, src/cycle/plan.rs) minus the longest a
due token waits for the daemon (it wakes when a token becomes due, at most MIN_WAKE_GAP
late and never later than the next slot, src/daemon/schedule.rs) minus RUN_ALLOWANCE for the
cycles' own duration. It prints the figures; the closing one is quoted in README.md and
docs/consumers.md. .ci/run starts it (about eight minutes) beside its last steps and awaits it."""

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from emulator_world import (  # noqa: E402
    JS_EXAMPLE,
    REPO,
    emulator_process,
    javascript_example_installed,
    rotator_bin,
    secret_client,
    stop,
)
from verdict import Observed, verdict  # noqa: E402

TOKEN_LIFETIME = 90
REFRESH_BEFORE = 75
# The daemon's slots (`schedule` below) and its early refresh, at most this late
# (MIN_WAKE_GAP in src/daemon/schedule.rs): a due token waits for whichever comes first.
SLOT_EVERY = 10
MIN_WAKE_GAP = 5
# Time for the cycle that sees a token due to plan, acquire, validate and write it.
RUN_ALLOWANCE = 5
# A token comes due at a moment drawn between refresh_before and refresh_before/2 before its exp.
PROMISED = REFRESH_BEFORE / 2 - min(SLOT_EVERY, MIN_WAKE_GAP) - RUN_ALLOWANCE
MARGIN = 5  # the consumers' margin: smaller than the promise, as the contract asks
LIFETIMES = 5
EVERY = 3
SECRET = "example-powerbi-token"


def admin(world: dict, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        world["authority_host"].rstrip("/") + "/_emulator/" + path,
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    tls = ssl.create_default_context(cafile=world["ca_cert"])
    with urllib.request.urlopen(request, context=tls, timeout=30) as answer:
        return json.load(answer)


def daemon_config(world: dict, directory: Path) -> Path:
    text = Path(world["config"]).read_text()
    assert 'refresh_before = "30m"' in text, text
    text = text.replace('refresh_before = "30m"', f'refresh_before = "{REFRESH_BEFORE}s"')
    path = directory / "daemon.toml"
    path.write_text(
        text + f'\n[daemon]\nschedule = "*/{SLOT_EVERY} * * * * *"\njitter = "0s"\nlisten = "127.0.0.1:0"\n'
    )
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_no_consumer_call_uses_an_expired_token_and_the_margin_holds(tmp_path):
    node = javascript_example_installed()
    duration = LIFETIMES * TOKEN_LIFETIME
    with emulator_process(tmp_path) as world:
        admin(world, "seed", {"token_lifetime_secs": [TOKEN_LIFETIME, TOKEN_LIFETIME], "token_clock_skew_secs": 0})
        daemon_log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [rotator_bin(), "run", "--config", str(daemon_config(world, tmp_path))],
            stdout=daemon_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "info"},
        )
        consumers = []
        try:
            client = secret_client(world)
            for _ in range(300):
                try:
                    client.get_secret(SECRET)
                    break
                except Exception:  # noqa: BLE001 - not written yet
                    assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()
                    time.sleep(0.2)
            else:
                raise AssertionError("the daemon wrote no token within a minute")
            env = {
                **os.environ,
                "EMULATOR_INFO": world["info_file"],
                "NODE_EXTRA_CA_CERTS": world["ca_cert"],
                "SECRET": SECRET,
                "EVERY_MS": str(EVERY * 1000),
                "FOR_MS": str(duration * 1000),
                "MARGIN_MS": str(MARGIN * 1000),
            }
            for name, argv, cwd in [
                ("python", [sys.executable, str(HERE / "watch.py")], REPO),
                ("js", [node, "emulator/watch.mjs"], JS_EXAMPLE),
            ]:
                out = tmp_path / f"{name}.jsonl"
                consumers.append((name, out, subprocess.Popen(argv, cwd=cwd, env=env, stdout=out.open("w"))))
            sampled = []
            while any(p.poll() is None for _, _, p in consumers):
                props = client.get_secret(SECRET).properties
                sampled.append(props.expires_on.timestamp() - time.time())
                time.sleep(1)
            stats = admin(world, "stats")
            versions = list(client.list_properties_of_secret_versions(SECRET))
        finally:
            for _, _, p in consumers:
                if p.poll() is None:
                    p.kill()
            stop(daemon, grace=30)

    for name, out, proc in consumers:
        assert proc.returncode == 0, f"{name} consumer failed: {out.read_text()}"
    powerbi = {
        e["status"]: e["count"] for e in stats["entries"] if e["service"] == "powerbi" and e["operation"] == "GroupsList"
    }
    seen = Observed({name: lines(out) for name, out, _ in consumers}, sampled, powerbi, len(versions))
    breaches, figures = verdict(seen, PROMISED, LIFETIMES)
    print(
        f"{LIFETIMES} lifetimes of {TOKEN_LIFETIME} s over {duration} s, refresh_before {REFRESH_BEFORE} s\n{figures}"
    )
    assert not breaches, "\n".join(breaches)
