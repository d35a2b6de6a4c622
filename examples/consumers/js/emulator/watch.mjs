// Loop mode for the guarantee test (tests/python/guarantee/): the example's TokenReader and
// call(), unchanged, calling the emulator's Power BI API every EVERY_MS for FOR_MS with the
// contract's margin MARGIN_MS. It only observes: each Key Vault read (how long the token read
// had left) and each API call (when it went out, the token's own nbf/exp claims, the answer),
// one JSON line each on stdout. Never prints a token.

import { emulatorInfo, groupsUrl, secretClient } from "./client.mjs";
import { TokenReader, call } from "../consumer.mjs";

const every = Number(process.env.EVERY_MS ?? 3000);
const until = Date.now() + Number(process.env.FOR_MS ?? 60000);
const margin = Number(process.env.MARGIN_MS ?? 5000);
const secret = process.env.SECRET ?? "example-powerbi-token";
const emit = (line) => process.stdout.write(`${JSON.stringify({ lang: "js", ...line })}\n`);

function claims(token) {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
  } catch {
    return {};
  }
}

const info = emulatorInfo();
const client = secretClient(info);
const getSecret = client.getSecret.bind(client);
client.getSecret = async (...args) => {
  const secret = await getSecret(...args);
  const exp = secret.properties.expiresOn?.getTime();
  emit({ kind: "read", at: Date.now() / 1000, remaining: (exp - Date.now()) / 1000 });
  return secret;
};
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const token = String(init?.headers?.Authorization ?? "").replace(/^Bearer /, "");
  const at = Date.now() / 1000;
  const answer = await realFetch(url, init);
  const c = claims(token);
  emit({ kind: "call", at, status: answer.status, nbf: c.nbf ?? null, exp: c.exp ?? null });
  return answer;
};

const reader = new TokenReader(client, secret, margin);
let failures = 0;
while (Date.now() < until) {
  try {
    await call(reader, groupsUrl(info));
  } catch (e) {
    failures += 1;
    emit({ kind: "error", at: Date.now() / 1000, message: e.message });
  }
  await new Promise((resolve) => setTimeout(resolve, every));
}
emit({ kind: "done", reads: reader.reads, failures });
