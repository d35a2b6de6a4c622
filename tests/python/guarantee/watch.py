"""Loop mode for the guarantee test: the Python example's TokenReader and call(), unchanged,
calling the emulator's Power BI API every EVERY_MS for FOR_MS with the contract's margin
MARGIN_MS. It only observes: each Key Vault read (how long the token read had left) and each API
call (when it went out, the token's own nbf/exp claims, the answer), one JSON line each on
stdout. Never prints a token. The emulator's info line is in the file named by EMULATOR_INFO."""

import base64
import datetime as dt
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from emulator_world import REPO, groups_url, secret_client  # noqa: E402

sys.path.insert(0, str(REPO / "examples" / "consumers" / "python"))
import consumer  # noqa: E402


def emit(**line) -> None:
    print(json.dumps({"lang": "python", **line}), flush=True)


def claims(token: str) -> dict:
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def main() -> None:
    world = json.loads(Path(os.environ["EMULATOR_INFO"]).read_text())
    every = int(os.environ.get("EVERY_MS", "3000")) / 1000
    until = time.time() + int(os.environ.get("FOR_MS", "60000")) / 1000
    margin = dt.timedelta(milliseconds=int(os.environ.get("MARGIN_MS", "5000")))
    client = secret_client(world)
    get_secret = client.get_secret

    def observed_get_secret(*args, **kwargs):
        secret = get_secret(*args, **kwargs)
        remaining = (secret.properties.expires_on - dt.datetime.now(dt.timezone.utc)).total_seconds()
        emit(kind="read", at=time.time(), remaining=remaining)
        return secret

    client.get_secret = observed_get_secret
    urlopen = urllib.request.urlopen

    def observed_urlopen(request, *args, **kwargs):
        token = request.get_header("Authorization", "").removeprefix("Bearer ")
        at, c = time.time(), claims(token)
        try:
            answer = urlopen(request, *args, **kwargs)
        except urllib.error.HTTPError as e:
            emit(kind="call", at=at, status=e.code, nbf=c.get("nbf"), exp=c.get("exp"))
            raise
        emit(kind="call", at=at, status=answer.status, nbf=c.get("nbf"), exp=c.get("exp"))
        return answer

    urllib.request.urlopen = observed_urlopen
    tls = ssl.create_default_context(cafile=world["ca_cert"])
    reader = consumer.TokenReader(client, os.environ.get("SECRET", "example-powerbi-token"), margin)
    failures = 0
    while time.time() < until:
        try:
            consumer.call(reader, groups_url(world), context=tls)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the loop
            failures += 1
            emit(kind="error", at=time.time(), message=str(e))
        time.sleep(every)
    emit(kind="done", reads=reader.reads, failures=failures)


if __name__ == "__main__":
    main()
