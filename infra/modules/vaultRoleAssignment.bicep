// One Key Vault data-plane role for one principal, scoped to one vault.

param vaultName string
param principalId string

@description('Built-in role definition id (GUID), e.g. 4633458b-17de-408a-b874-0445c86b69e6 (Key Vault Secrets User).')
param roleDefinitionId string

@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string = 'ServicePrincipal'

param assignmentDescription string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  // Deterministic name: redeploying never creates a duplicate assignment.
  name: guid(vault.id, principalId, roleDefinitionId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: principalType
    description: assignmentDescription
  }
}

output id string = assignment.id
