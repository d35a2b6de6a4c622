// The JavaScript consumer example against the emulator (run by tests/python/test_consumer_examples.py):
// it reads the token the rotator wrote with the official SDK, calls the emulator's Power BI API
// with it, caches it until the contract's margin, and reads again after a 401.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MARGIN_MS, TokenReader, call } from "./consumer.mjs";
import { emulatorInfo, groupsUrl, secretClient } from "./emulator/client.mjs";

const info = emulatorInfo();
const reader = () => new TokenReader(secretClient(info), "example-powerbi-token");

test("calls Power BI with the stored token and caches it until the margin", async () => {
  const r = reader();
  const answer = await call(r, groupsUrl(info));
  assert.deepEqual(answer.value, []);
  await call(r, groupsUrl(info));
  assert.equal(r.reads, 1, "cached until expires-on minus the margin");
  assert.ok(r.expiresOn.getTime() - Date.now() > MARGIN_MS, "the stored token outlives the margin");
  // Within the margin of the end: read again.
  await r.current(new Date(r.expiresOn.getTime() - MARGIN_MS + 1000));
  assert.equal(r.reads, 2);
});

test("a 401 reads the token again and retries", async () => {
  const r = reader();
  await r.current();
  r.token = "not-a-token"; // as if the cached token had been revoked
  const answer = await call(r, groupsUrl(info));
  assert.deepEqual(answer.value, []);
  assert.equal(r.reads, 2);
});

test("a secret that is not a token is refused", async () => {
  const r = new TokenReader(secretClient(info), "example-client-secret");
  await assert.rejects(r.current(), /is not a token secret/);
});
