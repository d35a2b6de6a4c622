// A Key Vault for akv-rotator: RBAC authorization (no access policies), soft delete with purge
// protection, network access denied by default, and AuditEvent logs to Log Analytics.

@description('Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

@description('What this vault holds, for the `purpose` tag: client-secrets (input) or tokens (output).')
@allowed([
  'client-secrets'
  'tokens'
  'client-secrets-and-tokens'
])
param purpose string

@description('Public network access. Disabled (default): reach the vault through a private endpoint (privateEndpointSubnetId). Enabled: only from ipRules / virtualNetworkRules, the firewall denies everything else.')
@allowed([
  'Disabled'
  'Enabled'
])
param publicNetworkAccess string = 'Disabled'

@description('Public IPv4 addresses or CIDRs allowed through the firewall (publicNetworkAccess = Enabled).')
param ipRules array = []

@description('Subnet resource ids allowed through the firewall (service endpoint Microsoft.KeyVault).')
param virtualNetworkSubnetIds array = []

@description('Let trusted Azure services bypass the firewall. None is the safe default; the rotator is not a trusted service.')
@allowed([
  'None'
  'AzureServices'
])
param bypass string = 'None'

@description('Days a deleted vault or secret can be recovered (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Log Analytics workspace receiving the AuditEvent logs and metrics.')
param logAnalyticsWorkspaceId string

@description('Subnet for a private endpoint; empty for none.')
param privateEndpointSubnetId string = ''

@description('Private DNS zone privatelink.vaultcore.azure.net (resource id) for the private endpoint; empty to manage DNS yourself.')
param privateDnsZoneId string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: union(tags, { purpose: purpose, 'managed-by': 'akv-rotator-infra' })
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Azure RBAC only: data-plane access is granted by role assignments, per vault or per secret.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Purge protection cannot be turned off again: a deleted secret stays recoverable for the
    // whole retention period, even for someone holding the purge permission.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // Disabled by default: traffic comes through a private endpoint. When Enabled, the
    // firewall below still denies everything that is not listed.
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: 'Deny'
      bypass: bypass
      ipRules: [for ip in ipRules: { value: ip }]
      virtualNetworkRules: [for subnetId in virtualNetworkSubnetIds: { id: subnetId, ignoreMissingVnetServiceEndpoint: false }]
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        // Every data-plane operation: who read which client secret, who wrote which token.
        category: 'AuditEvent'
        enabled: true
      }
      {
        category: 'AzurePolicyEvaluationDetails'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource privateEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = if (!empty(privateEndpointSubnetId)) {
  name: 'pe-${name}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: vault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }
}

resource privateDnsZoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = if (!empty(privateEndpointSubnetId) && !empty(privateDnsZoneId)) {
  parent: privateEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vaultcore'
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
