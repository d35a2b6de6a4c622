// A consumer of a token akv-rotator keeps in Key Vault, following the reading contract
// (docs/consumers.md): read the token secret with the official SDK, cache it until its
// `expires-on` minus a margin, read again after that or when the API answers 401, and never
// hold a client secret.
//
//	go run . -vault https://kv-tokens.vault.azure.net/ \
//	  -secret sales-reporting-powerbi-token -url https://api.powerbi.com/v1.0/myorg/groups
//
// The credential is DefaultAzureCredential (workload identity, managed identity, Azure CLI...).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Margin is how long before its end a cached token is read again (smaller than the rotator's
// guarantee).
const Margin = 5 * time.Minute

// SecretGetter is the one call of *azsecrets.Client the reader needs.
type SecretGetter interface {
	GetSecret(ctx context.Context, name, version string, options *azsecrets.GetSecretOptions) (azsecrets.GetSecretResponse, error)
}

// TokenReader holds the current token of one secret, read again only when it is within Margin
// of its end.
type TokenReader struct {
	Client    SecretGetter
	Name      string
	Margin    time.Duration
	Reads     int
	token     string
	ExpiresOn time.Time
}

// NewTokenReader reads secret `name` with `client`, with the default margin.
func NewTokenReader(client SecretGetter, name string) *TokenReader {
	return &TokenReader{Client: client, Name: name, Margin: Margin}
}

// Token returns the token to send at `now`; it reads the secret when none is cached or the
// margin is reached.
func (r *TokenReader) Token(ctx context.Context, now time.Time) (string, error) {
	if r.token != "" && now.Before(r.ExpiresOn.Add(-r.Margin)) {
		return r.token, nil
	}
	secret, err := r.Client.GetSecret(ctx, r.Name, "", nil)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", r.Name, err)
	}
	r.Reads++
	if secret.ContentType == nil || *secret.ContentType != "application/jwt" {
		return "", fmt.Errorf("%s is not a token secret", r.Name)
	}
	// `expires-on` (tag) and the secret's `exp` attribute are the token's own expiry.
	var expires time.Time
	if secret.Attributes != nil && secret.Attributes.Expires != nil {
		expires = *secret.Attributes.Expires
	} else if tag := secret.Tags["expires-on"]; tag != nil {
		expires, _ = time.Parse(time.RFC3339, *tag)
	}
	if !expires.After(now) {
		return "", fmt.Errorf("%s expired at %s: the rotator is not refreshing it", r.Name, expires.Format(time.RFC3339))
	}
	if secret.Value == nil {
		return "", fmt.Errorf("%s has no value", r.Name)
	}
	r.token, r.ExpiresOn = *secret.Value, expires
	return r.token, nil
}

// Invalidate is for after a 401: the token was revoked or rotated early; read again next time.
func (r *TokenReader) Invalidate() { r.token = "" }

// Call GETs `url` with the current token, reading it again and retrying once on 401, and
// decodes the JSON answer.
func Call(ctx context.Context, r *TokenReader, client *http.Client, url string) (map[string]any, error) {
	for attempt := 1; attempt <= 2; attempt++ {
		token, err := r.Token(ctx, time.Now())
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		answer, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if answer.StatusCode == http.StatusUnauthorized && attempt == 1 {
			answer.Body.Close()
			r.Invalidate()
			continue
		}
		defer answer.Body.Close()
		if answer.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s answered %d", url, answer.StatusCode)
		}
		var body map[string]any
		return body, json.NewDecoder(answer.Body).Decode(&body)
	}
	return nil, errors.New("unreachable")
}

func main() {
	vault := flag.String("vault", "", "Key Vault URL")
	secret := flag.String("secret", "", "token secret name")
	url := flag.String("url", "", "API URL to call with the token")
	flag.Parse()
	if *vault == "" || *secret == "" || *url == "" {
		fmt.Fprintln(os.Stderr, "usage: consumer -vault URL -secret NAME -url API_URL")
		os.Exit(2)
	}
	credential, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client, err := azsecrets.NewClient(*vault, credential, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body, err := Call(ctx, NewTokenReader(client, *secret), &http.Client{Timeout: 30 * time.Second}, *url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(body, "", "  ")
	fmt.Println(string(out))
}
