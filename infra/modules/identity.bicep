// The rotator's user-assigned managed identity and, for AKS, its federated identity credential
// (Azure Workload Identity: the pod's projected service account token is exchanged for an
// Entra ID token of this identity).

param name string
param location string
param tags object = {}

@description('OIDC issuer URL of the AKS cluster (az aks show --query oidcIssuerProfile.issuerUrl). Empty: no federated credential (e.g. Container Apps only).')
param oidcIssuerUrl string = ''

@description('Kubernetes namespace of the rotator (the Helm release namespace).')
param serviceAccountNamespace string = 'akv-rotator'

@description('Kubernetes service account name (the chart default is the release full name).')
param serviceAccountName string = 'akv-rotator'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

resource federated 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (!empty(oidcIssuerUrl)) {
  parent: identity
  name: 'aks-${serviceAccountNamespace}-${serviceAccountName}'
  properties: {
    issuer: oidcIssuerUrl
    // Only this service account in this namespace can act as the identity.
    subject: 'system:serviceaccount:${serviceAccountNamespace}:${serviceAccountName}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output tenantId string = identity.properties.tenantId
