// The Go consumer example against the emulator (run by tests/python/test_consumer_examples.py):
// it reads the token the rotator wrote with the official SDK, calls the emulator's Power BI API
// with it, caches it until the contract's margin, and reads again after a 401. The emulator's
// info line (JSON) is in the file named by EMULATOR_INFO; its CA reaches Go through
// SSL_CERT_FILE, the standard way, so the example's code needs no TLS option.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

type emulatorInfo struct {
	AuthorityHost string            `json:"authority_host"`
	PowerBIURL    string            `json:"powerbi_url"`
	Vaults        map[string]string `json:"vaults"`
	Rotator       struct {
		TenantID         string `json:"tenant_id"`
		ClientID         string `json:"client_id"`
		ClientSecretFile string `json:"client_secret_file"`
	} `json:"rotator"`
}

func emulator(t *testing.T) emulatorInfo {
	t.Helper()
	path := os.Getenv("EMULATOR_INFO")
	if path == "" {
		t.Fatal("EMULATOR_INFO must name the emulator's info file")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var info emulatorInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// secretClient: the emulator's throwaway rotator identity against its Entra ID and Key Vault.
func secretClient(t *testing.T, info emulatorInfo) *azsecrets.Client {
	t.Helper()
	secret, err := os.ReadFile(info.Rotator.ClientSecretFile)
	if err != nil {
		t.Fatal(err)
	}
	credential, err := azidentity.NewClientSecretCredential(info.Rotator.TenantID, info.Rotator.ClientID, string(secret),
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: info.AuthorityHost}},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	// The emulator serves every vault at https://localhost:PORT/ while its challenge names the
	// real resource https://vault.azure.net; the SDK's check that the vault host ends with
	// ".vault.azure.net" cannot pass here, so it is switched off for the emulator only. Against
	// Azure keep it on (the default): it stops a token from being sent to a look-alike host.
	client, err := azsecrets.NewClient(info.Vaults["demo"], credential,
		&azsecrets.ClientOptions{DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func groupsURL(info emulatorInfo) string {
	return strings.TrimSuffix(info.PowerBIURL, "/") + "/v1.0/myorg/groups"
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func TestCallsPowerBIWithTheStoredTokenAndCachesItUntilTheMargin(t *testing.T) {
	info := emulator(t)
	ctx := context.Background()
	r := NewTokenReader(secretClient(t, info), "example-powerbi-token")
	body, err := Call(ctx, r, httpClient, groupsURL(info))
	if err != nil {
		t.Fatal(err)
	}
	if groups, ok := body["value"].([]any); !ok || len(groups) != 0 {
		t.Fatalf("unexpected answer %v", body)
	}
	if _, err := Call(ctx, r, httpClient, groupsURL(info)); err != nil {
		t.Fatal(err)
	}
	if r.Reads != 1 {
		t.Fatalf("read %d times, want 1: cached until expires-on minus the margin", r.Reads)
	}
	if time.Until(r.ExpiresOn) <= Margin {
		t.Fatalf("the stored token expires at %s, within the margin", r.ExpiresOn)
	}
	// Within the margin of the end: read again.
	if _, err := r.Token(ctx, r.ExpiresOn.Add(-Margin+time.Second)); err != nil {
		t.Fatal(err)
	}
	if r.Reads != 2 {
		t.Fatalf("read %d times, want 2 once within the margin", r.Reads)
	}
}

func TestA401ReadsTheTokenAgainAndRetries(t *testing.T) {
	info := emulator(t)
	ctx := context.Background()
	r := NewTokenReader(secretClient(t, info), "example-powerbi-token")
	if _, err := r.Token(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.token = "not-a-token" // as if the cached token had been revoked
	if _, err := Call(ctx, r, httpClient, groupsURL(info)); err != nil {
		t.Fatal(err)
	}
	if r.Reads != 2 {
		t.Fatalf("read %d times, want 2 after the 401", r.Reads)
	}
}

func TestASecretThatIsNotATokenIsRefused(t *testing.T) {
	info := emulator(t)
	r := NewTokenReader(secretClient(t, info), "example-client-secret")
	_, err := r.Token(context.Background(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "is not a token secret") {
		t.Fatalf("got %v, want a refusal", err)
	}
}
