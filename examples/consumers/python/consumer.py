"""A consumer of a token akv-rotator keeps in Key Vault, following the reading contract
(docs/consumers.md): read the token secret with the official SDK, cache it until its
`expires-on` minus a margin, read again after that or when the API answers 401, and never hold a
client secret.

    python consumer.py --vault https://kv-tokens.vault.azure.net/ \
        --secret sales-reporting-powerbi-token --url https://api.powerbi.com/v1.0/myorg/groups
"""

import argparse
import datetime as dt
import json
import urllib.request

from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

MARGIN = dt.timedelta(minutes=5)


class TokenReader:
    """The current token of one secret, read again only when it is within `margin` of its end."""

    def __init__(self, client: SecretClient, name: str, margin: dt.timedelta = MARGIN):
        self.client = client
        self.name = name
        self.margin = margin
        self.reads = 0
        self._token = None
        self._expires = None

    def token(self, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(dt.timezone.utc)
        if self._token is None or now >= self._expires - self.margin:
            secret = self.client.get_secret(self.name)
            self.reads += 1
            if secret.properties.content_type != "application/jwt":
                raise RuntimeError(f"{self.name} is not a token secret")
            # `expires-on` (tag) and the secret's `exp` attribute are the token's own expiry.
            expires = secret.properties.expires_on or dt.datetime.fromisoformat(
                secret.properties.tags["expires-on"].replace("Z", "+00:00")
            )
            if expires <= now:
                raise RuntimeError(
                    f"{self.name} expired at {expires.isoformat()}: the rotator is not refreshing it"
                )
            self._token, self._expires = secret.value, expires
        return self._token

    def invalidate(self) -> None:
        """After a 401: the token was revoked or rotated early; read again on the next call."""
        self._token = None


def call(reader: TokenReader, url: str, context=None) -> dict:
    """GET `url` with the current token; one re-read and retry on 401."""
    for attempt in (1, 2):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {reader.token()}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as e:
            if e.code == 401 and attempt == 1:
                reader.invalidate()
                continue
            raise
    raise RuntimeError("unreachable")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vault", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--url", required=True)
    a = p.parse_args()
    reader = TokenReader(SecretClient(a.vault, DefaultAzureCredential()), a.secret)
    print(json.dumps(call(reader, a.url), indent=2))


if __name__ == "__main__":
    main()
