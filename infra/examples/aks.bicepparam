// AKS with Azure Workload Identity, vaults reached through private endpoints.
//   az deployment group create -g rg-akv-rotator-prod -f infra/main.bicep -p infra/examples/aks.bicepparam
// Then: helm install akv-rotator charts/akv-rotator -n akv-rotator \
//         --set workloadIdentity.clientId=<output identityClientId> -f my-values.yaml
using '../main.bicep'

param prefix = 'akvrot'
param environmentName = 'prod'
param publicNetworkAccess = 'Disabled'
param privateEndpointSubnetId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-private-endpoints'
param privateDnsZoneId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-network/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net'

// az aks show -g rg-aks -n aks-prod --query oidcIssuerProfile.issuerUrl -o tsv
param aksOidcIssuerUrl = 'https://westeurope.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/11111111-1111-1111-1111-111111111111/'
// Must match the Helm release: namespace and service account (chart default: release full name).
param kubernetesNamespace = 'akv-rotator'
param kubernetesServiceAccount = 'akv-rotator'

// Alerts independent of the rotator: client secrets near expiry in the input vault.
// Pass the real URL at deploy time (-p nearExpiryWebhookUrl=...) rather than committing it.
param nearExpiryWebhookUrl = ''

// Push for consumers (optional, off when empty): each consumer's endpoint hears when the rotator
// writes a new version of ITS token secret, as a nudge to re-read (docs/consumers.md, "Push").
// Webhook URLs are credentials: pass them at deploy time rather than committing them.
param tokenEventSubscribers = {
  consumers: [
    // { name: 'sales-reporting-powerbi', secretName: 'sales-reporting-powerbi-token', webhookUrl: 'https://...' }
    // { name: 'ops-arm', secretName: 'ops-dashboard-arm-token', destination: { endpointType: 'StorageQueue', properties: { resourceId: '<storage account id>', queueName: 'token-updates' } } }
  ]
}
