// akv-rotator infrastructure (resource group scope):
//   - an INPUT vault for app registrations' client secrets: the rotator may only read it
//     (Key Vault Secrets User);
//   - an OUTPUT vault for the tokens it writes (Key Vault Secrets Officer on that vault only);
//   - the rotator's user-assigned managed identity, federated with an AKS service account
//     (Azure Workload Identity) and/or used by a Container Apps Job;
//   - AuditEvent diagnostic logs of both vaults to Log Analytics;
//   - optionally: a Container Apps Job (cron), Event Grid SecretNearExpiry alerts on the input
//     vault, Event Grid SecretNewVersionCreated pushes to consumers from the output vault,
//     private endpoints.
//
//   az deployment group create -g rg-akv-rotator -f infra/main.bicep -p infra/examples/aks.bicepparam
targetScope = 'resourceGroup'

@description('Short name used in resource names, e.g. "akvrot".')
@minLength(2)
@maxLength(8)
param prefix string = 'akvrot'

@description('Environment suffix, e.g. dev, prod.')
@maxLength(6)
param environmentName string = 'prod'

param location string = resourceGroup().location

param tags object = {
  application: 'akv-rotator'
}

@description('Vault for client secrets (input). Default: kv-<prefix>-in-<env>-<unique>.')
@maxLength(24)
param inputVaultName string = take('kv-${prefix}-in-${environmentName}-${uniqueString(resourceGroup().id)}', 24)

@description('Vault for tokens (output). Default: kv-<prefix>-out-<env>-<unique>.')
@maxLength(24)
param outputVaultName string = take('kv-${prefix}-out-${environmentName}-${uniqueString(resourceGroup().id)}', 24)

@description('Public network access to both vaults. Disabled (default, recommended): use private endpoints (privateEndpointSubnetId). Enabled: the firewall still denies all but allowedIpRanges / allowedSubnetIds.')
@allowed([
  'Disabled'
  'Enabled'
])
param publicNetworkAccess string = 'Disabled'

@description('Public IPs/CIDRs allowed through the vault firewalls when publicNetworkAccess = Enabled (e.g. the AKS egress IP).')
param allowedIpRanges array = []

@description('Subnets (service endpoint Microsoft.KeyVault) allowed through the vault firewalls.')
param allowedSubnetIds array = []

@description('Subnet for the vaults\' private endpoints; empty for none.')
param privateEndpointSubnetId string = ''

@description('Resource id of the privatelink.vaultcore.azure.net private DNS zone; empty to manage DNS elsewhere.')
param privateDnsZoneId string = ''

@description('Existing Log Analytics workspace id; empty to create one.')
param logAnalyticsWorkspaceId string = ''

// ---- AKS (Azure Workload Identity) ----
@description('OIDC issuer URL of the AKS cluster; empty: no federated credential.')
param aksOidcIssuerUrl string = ''

@description('Namespace of the Helm release.')
param kubernetesNamespace string = 'akv-rotator'

@description('Service account of the Helm release (chart default: the release full name).')
param kubernetesServiceAccount string = 'akv-rotator'

// ---- Container Apps Job (alternative runtime) ----
@description('Deploy a Container Apps Job running the rotator on a schedule.')
param deployContainerAppsJob bool = false

@description('Image, preferably by digest (registry/akv-rotator@sha256:...). Required with deployContainerAppsJob.')
param image string = ''

@description('Registry pulled with the managed identity (grant it AcrPull); empty for public images.')
param registryServer string = ''

@description('Cron (UTC) of the Container Apps Job.')
param cronExpression string = '*/10 * * * *'

@description('Rotator config (TOML, see README.md) WITHOUT a [credential] table; typically loadTextContent() of a file.')
param rotatorConfig string = ''

@description('Subnet for the Container Apps environment (needed to reach private endpoints); empty for none.')
param containerAppsSubnetId string = ''

// ---- Event Grid (optional) ----
@description('HTTPS webhook for Microsoft.KeyVault.SecretNearExpiry / SecretExpired events of the input vault; empty: no subscription.')
@secure()
param nearExpiryWebhookUrl string = ''

@description('Push for consumers, off by default: { consumers: [ { name, secretName, webhookUrl } ] } subscribes each consumer\'s endpoint (or destination: an Event Grid destination object) to Microsoft.KeyVault.SecretNewVersionCreated of the output (token) vault, filtered to its token secret. A nudge to re-read, not a replacement for the reading contract (docs/consumers.md).')
@secure()
param tokenEventSubscribers object = {
  consumers: []
}

// Built-in roles (data plane).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

var baseName = '${prefix}-${environmentName}'

module logs 'modules/logAnalytics.bicep' = if (empty(logAnalyticsWorkspaceId)) {
  name: 'akv-rotator-logs'
  params: {
    name: 'log-${baseName}'
    location: location
    tags: tags
  }
}

var workspaceId = empty(logAnalyticsWorkspaceId) ? logs.outputs.id : logAnalyticsWorkspaceId

module inputVault 'modules/keyvault.bicep' = {
  name: 'akv-rotator-input-vault'
  params: {
    name: inputVaultName
    location: location
    tags: tags
    purpose: 'client-secrets'
    publicNetworkAccess: publicNetworkAccess
    ipRules: allowedIpRanges
    virtualNetworkSubnetIds: allowedSubnetIds
    logAnalyticsWorkspaceId: workspaceId
    privateEndpointSubnetId: privateEndpointSubnetId
    privateDnsZoneId: privateDnsZoneId
  }
}

module outputVault 'modules/keyvault.bicep' = {
  name: 'akv-rotator-output-vault'
  params: {
    name: outputVaultName
    location: location
    tags: tags
    purpose: 'tokens'
    publicNetworkAccess: publicNetworkAccess
    ipRules: allowedIpRanges
    virtualNetworkSubnetIds: allowedSubnetIds
    logAnalyticsWorkspaceId: workspaceId
    privateEndpointSubnetId: privateEndpointSubnetId
    privateDnsZoneId: privateDnsZoneId
  }
}

module identity 'modules/identity.bicep' = {
  name: 'akv-rotator-identity'
  params: {
    name: 'id-${baseName}'
    location: location
    tags: tags
    oidcIssuerUrl: aksOidcIssuerUrl
    serviceAccountNamespace: kubernetesNamespace
    serviceAccountName: kubernetesServiceAccount
  }
}

// Read-only on the input vault: the rotator reads client secrets and lists their properties.
module readClientSecrets 'modules/vaultRoleAssignment.bicep' = {
  name: 'akv-rotator-read-input'
  params: {
    vaultName: inputVault.outputs.name
    principalId: identity.outputs.principalId
    roleDefinitionId: keyVaultSecretsUser
    assignmentDescription: 'akv-rotator reads client secrets'
  }
}

// Write on the output vault only: the rotator writes token secrets there, nowhere else.
module writeTokens 'modules/vaultRoleAssignment.bicep' = {
  name: 'akv-rotator-write-output'
  params: {
    vaultName: outputVault.outputs.name
    principalId: identity.outputs.principalId
    roleDefinitionId: keyVaultSecretsOfficer
    assignmentDescription: 'akv-rotator writes token secrets'
  }
}

module job 'modules/containerAppsJob.bicep' = if (deployContainerAppsJob) {
  name: 'akv-rotator-job'
  params: {
    name: 'caj-${baseName}'
    location: location
    tags: tags
    image: image
    registryServer: registryServer
    cronExpression: cronExpression
    rotatorConfig: rotatorConfig
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    logAnalyticsWorkspaceId: workspaceId
    infrastructureSubnetId: containerAppsSubnetId
  }
}

module nearExpiry 'modules/eventGrid.bicep' = if (!empty(nearExpiryWebhookUrl)) {
  name: 'akv-rotator-near-expiry'
  params: {
    vaultName: inputVault.outputs.name
    location: location
    tags: tags
    webhookEndpoint: nearExpiryWebhookUrl
  }
}

module tokenEvents 'modules/tokenEvents.bicep' = if (!empty(tokenEventSubscribers.consumers)) {
  name: 'akv-rotator-token-events'
  params: {
    vaultName: outputVault.outputs.name
    location: location
    tags: tags
    subscribers: tokenEventSubscribers
  }
}

output inputVaultUri string = inputVault.outputs.uri
output outputVaultUri string = outputVault.outputs.uri
@description('Helm: --set workloadIdentity.clientId=<this>')
output identityClientId string = identity.outputs.clientId
output identityPrincipalId string = identity.outputs.principalId
output tenantId string = identity.outputs.tenantId
output federatedSubject string = 'system:serviceaccount:${kubernetesNamespace}:${kubernetesServiceAccount}'
