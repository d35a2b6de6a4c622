// Azure Container Apps Job instead of AKS; vault firewalls allow only the environment's subnet.
//   az deployment group create -g rg-akv-rotator-dev -f infra/main.bicep -p infra/examples/container-apps.bicepparam
using '../main.bicep'

param prefix = 'akvrot'
param environmentName = 'dev'
// Fixed names so that container-apps.rotator.toml can name the vaults (globally unique: change them).
param inputVaultName = 'kv-contoso-rot-in-dev'
param outputVaultName = 'kv-contoso-rot-out-dev'
param publicNetworkAccess = 'Enabled'   // firewall: defaultAction Deny, only the subnet below
param allowedSubnetIds = [
  '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-apps/subnets/snet-container-apps'
]
param containerAppsSubnetId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-apps/subnets/snet-container-apps'

param deployContainerAppsJob = true
param image = 'myregistry.azurecr.io/akv-rotator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
param registryServer = 'myregistry.azurecr.io'
param cronExpression = '*/10 * * * *'
// The vault URLs in this file must match the vault names of this deployment.
param rotatorConfig = loadTextContent('container-apps.rotator.toml')
