// A consumer of a token akv-rotator keeps in Key Vault, following the reading contract
// (docs/consumers.md): read the token secret with the official SDK, cache it until its
// `expires-on` minus a margin, read again after that or when the API answers 401, and never hold
// a client secret.
//
//   node consumer.mjs --vault https://kv-tokens.vault.azure.net/ \
//     --secret sales-reporting-powerbi-token --url https://api.powerbi.com/v1.0/myorg/groups
//
// The credential is DefaultAzureCredential (workload identity, managed identity, Azure CLI...).

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

/** How long before its end a cached token is read again (smaller than the rotator's guarantee). */
export const MARGIN_MS = 5 * 60 * 1000;

/** The current token of one secret, read again only when it is within `marginMs` of its end. */
export class TokenReader {
  constructor(client, name, marginMs = MARGIN_MS) {
    this.client = client;
    this.name = name;
    this.marginMs = marginMs;
    this.reads = 0;
    this.token = undefined;
    this.expiresOn = undefined;
    this.notBefore = undefined;
  }

  /** The token to send now; reads the secret when none is cached or the margin is reached. */
  async current(now = new Date()) {
    if (this.token === undefined || now.getTime() >= this.expiresOn.getTime() - this.marginMs) {
      const secret = await this.client.getSecret(this.name);
      this.reads += 1;
      if (secret.properties.contentType !== "application/jwt") {
        throw new Error(`${this.name} is not a token secret`);
      }
      // `expires-on` (tag) and the secret's `exp` attribute are the token's own expiry.
      const expiresOn =
        secret.properties.expiresOn ?? new Date(secret.properties.tags?.["expires-on"]);
      if (Number.isNaN(expiresOn.getTime()) || expiresOn <= now) {
        throw new Error(
          `${this.name} expired at ${expiresOn.toISOString()}: the rotator is not refreshing it`,
        );
      }
      this.token = secret.value;
      this.expiresOn = expiresOn;
      this.notBefore = secret.properties.notBefore;
    }
    return this.token;
  }

  /** After a 401: the token was revoked or rotated early; read again on the next call. */
  invalidate() {
    this.token = undefined;
  }
}

/** GET `url` with the current token; one re-read and retry on 401. Returns the parsed JSON. */
export async function call(reader, url) {
  for (const attempt of [1, 2]) {
    const token = await reader.current();
    const answer = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (answer.status === 401 && attempt === 1) {
      reader.invalidate();
      continue;
    }
    if (!answer.ok) {
      throw new Error(`GET ${url} answered ${answer.status}`);
    }
    return answer.json();
  }
  throw new Error("unreachable");
}

async function main() {
  const { values } = parseArgs({
    options: {
      vault: { type: "string" },
      secret: { type: "string" },
      url: { type: "string" },
    },
  });
  if (!values.vault || !values.secret || !values.url) {
    throw new Error("usage: node consumer.mjs --vault URL --secret NAME --url API_URL");
  }
  const client = new SecretClient(values.vault, new DefaultAzureCredential());
  const reader = new TokenReader(client, values.secret);
  console.log(JSON.stringify(await call(reader, values.url), null, 2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}
