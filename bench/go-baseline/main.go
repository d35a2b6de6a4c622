// go-baseline: the lean Go baseline that akv-bench runs beside the rotator (`--baseline go`,
// bench/README.md). For each app it reads the app's client secret from the input vault, gets a
// client-credentials token for the app with azidentity, and writes it to the output vault under
// the rotator's secret name: three calls with the official Azure SDK for Go and nothing else (no
// listing, no validation, no tags; the SDK's own retries only; pacing of the writes on request).
//
//	go-baseline JOB.json
//
// JOB.json (written by akv-bench) names the vaults, the tenant, the authority host, the CA file,
// the identity used for Key Vault, the scope, the concurrency and the apps. One JSON line is
// printed: counts and the first error's text; never a secret or a token. Exit 1 if any app failed.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

type app struct {
	ClientID         string `json:"client_id"`
	ClientSecretName string `json:"client_secret_name"`
	OutputSecretName string `json:"output_secret_name"`
}

type job struct {
	InputVault    string `json:"input_vault"`
	OutputVault   string `json:"output_vault"`
	TenantID      string `json:"tenant_id"`
	AuthorityHost string `json:"authority_host"`
	CAFile        string `json:"ca_file"`
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	Scope         string `json:"scope"`
	Concurrency   int    `json:"concurrency"`
	// WriteIntervalMs, when above 0, spaces the writes that far apart, as the rotator's pacer
	// does (akv-bench --baseline go-paced); 0 writes as fast as the vault answers.
	WriteIntervalMs float64 `json:"write_interval_ms"`
	Apps            []app   `json:"apps"`
}

type result struct {
	Written    int    `json:"written"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
}

// baseline holds what every app shares: the two vault clients and the credential options.
type baseline struct {
	job     *job
	in, out *azsecrets.Client
	creds   *azidentity.ClientSecretCredentialOptions
	pace    <-chan time.Time // nil: no pacing
}

func newBaseline(j *job) (*baseline, error) {
	creds := &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: j.AuthorityHost}},
		// The emulator's authority host is not a known cloud: no instance discovery.
		DisableInstanceDiscovery: true,
	}
	kv, err := azidentity.NewClientSecretCredential(j.TenantID, j.ClientID, j.ClientSecret, creds)
	if err != nil {
		return nil, err
	}
	// The emulator serves its vaults at https://localhost:PORT/ while its challenge names
	// https://vault.azure.net: the SDK's check that the host ends in ".vault.azure.net" is off
	// for the emulator only (examples/consumers/go does the same).
	opts := &azsecrets.ClientOptions{DisableChallengeResourceVerification: true}
	in, err := azsecrets.NewClient(j.InputVault, kv, opts)
	if err != nil {
		return nil, err
	}
	out, err := azsecrets.NewClient(j.OutputVault, kv, opts)
	if err != nil {
		return nil, err
	}
	b := &baseline{job: j, in: in, out: out, creds: creds}
	if j.WriteIntervalMs > 0 {
		b.pace = time.NewTicker(time.Duration(j.WriteIntervalMs * float64(time.Millisecond))).C
	}
	return b, nil
}

// refresh reads the app's client secret, gets a token with it and writes the token.
func (b *baseline) refresh(ctx context.Context, a app) error {
	secret, err := b.in.GetSecret(ctx, a.ClientSecretName, "", nil)
	if err != nil {
		return fmt.Errorf("reading %s: %w", a.ClientSecretName, err)
	}
	if secret.Value == nil {
		return fmt.Errorf("reading %s: no value", a.ClientSecretName)
	}
	cred, err := azidentity.NewClientSecretCredential(b.job.TenantID, a.ClientID, *secret.Value, b.creds)
	if err != nil {
		return fmt.Errorf("credential of %s: %w", a.ClientID, err)
	}
	token, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{b.job.Scope}})
	if err != nil {
		return fmt.Errorf("token of %s: %w", a.ClientID, err)
	}
	if b.pace != nil {
		<-b.pace
	}
	_, err = b.out.SetSecret(ctx, a.OutputSecretName, azsecrets.SetSecretParameters{
		Value:            &token.Token,
		ContentType:      to.Ptr("application/jwt"),
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &token.ExpiresOn},
	}, nil)
	if err != nil {
		return fmt.Errorf("writing %s: %w", a.OutputSecretName, err)
	}
	return nil
}

// run refreshes every app, at most job.Concurrency at a time.
func (b *baseline) run(ctx context.Context) result {
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, b.job.Concurrency)
	for _, a := range b.job.Apps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := b.refresh(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				res.Written++
			case res.Failed == 0:
				res.FirstError = err.Error()
				fallthrough
			default:
				res.Failed++
			}
		})
	}
	wg.Wait()
	return res
}

func load(path string) (*job, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j := &job{Concurrency: 32}
	if err := json.Unmarshal(raw, j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if j.Concurrency < 1 {
		return nil, fmt.Errorf("%s: concurrency must be at least 1", path)
	}
	return j, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-baseline JOB.json")
		os.Exit(2)
	}
	j, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if j.CAFile != "" {
		// The emulator's CA, the standard way (read at the first TLS handshake, which is later):
		// the SDK keeps its default transport (HTTP/2, connection pool) untouched.
		os.Setenv("SSL_CERT_FILE", j.CAFile)
	}
	b, err := newBaseline(j)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	res := b.run(context.Background())
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if res.Failed > 0 {
		os.Exit(1)
	}
}
