// The SecretClient of the examples' tests: the emulator's throwaway rotator identity (its
// client secret read from the file the emulator wrote) against the emulator's Entra ID and Key
// Vault. The emulator's info line (JSON) is in the file named by EMULATOR_INFO; its CA reaches
// Node through NODE_EXTRA_CA_CERTS, the standard way, so the example's code needs no TLS option.

import { readFileSync } from "node:fs";

import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

export function emulatorInfo() {
  const path = process.env.EMULATOR_INFO;
  if (!path) {
    throw new Error("EMULATOR_INFO must name the emulator's info file");
  }
  return JSON.parse(readFileSync(path, "utf8"));
}

export function secretClient(info, vault = "demo") {
  const rotator = info.rotator;
  const credential = new ClientSecretCredential(
    rotator.tenant_id,
    rotator.client_id,
    readFileSync(rotator.client_secret_file, "utf8"),
    { authorityHost: info.authority_host, disableInstanceDiscovery: true },
  );
  // The emulator serves every vault at https://localhost:PORT/ while its challenge names the
  // real resource https://vault.azure.net; the SDK's check that the vault host ends with
  // ".vault.azure.net" cannot pass here, so it is switched off for the emulator only. Against
  // Azure keep it on (the default): it stops a token from being sent to a look-alike host.
  return new SecretClient(info.vaults[vault], credential, {
    disableChallengeResourceVerification: true,
  });
}

export function groupsUrl(info) {
  return `${info.powerbi_url.replace(/\/$/, "")}/v1.0/myorg/groups`;
}
