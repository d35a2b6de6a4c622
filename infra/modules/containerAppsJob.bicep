// Alternative runtime to AKS: an Azure Container Apps Job started by a cron schedule, running
// `akv-rotator once` as the same user-assigned managed identity.

param name string
param location string
param tags object = {}

@description('Image by digest, e.g. myregistry.azurecr.io/akv-rotator@sha256:...')
param image string

@description('Registry server to pull from with the identity (needs AcrPull), e.g. myregistry.azurecr.io; empty for a public registry.')
param registryServer string = ''

@description('Cron expression (UTC), 5 fields.')
param cronExpression string = '*/10 * * * *'

@description('The rotator config (TOML, README.md) without a [credential] table: this module appends one for the managed identity.')
param rotatorConfig string

param identityId string
param identityClientId string

@description('Resource id of the Log Analytics workspace receiving the job\'s console logs (any resource group of the subscription or another one).')
param logAnalyticsWorkspaceId string

@description('Subnet for the environment (VNet integration, needed to reach vaults through private endpoints); empty for a consumption environment without VNet.')
param infrastructureSubnetId string = ''

@description('Replica timeout in seconds for one run.')
param replicaTimeout int = 1200

@description('Retries after a failed run.')
param replicaRetryLimit int = 1

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: last(split(logAnalyticsWorkspaceId, '/'))
  scope: resourceGroup(split(logAnalyticsWorkspaceId, '/')[2], split(logAnalyticsWorkspaceId, '/')[4])
}

resource managedEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-${name}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: empty(infrastructureSubnetId) ? null : {
      infrastructureSubnetId: infrastructureSubnetId
      internal: true
    }
    zoneRedundant: false
  }
}

// The config is not secret (client secrets are Key Vault secret NAMES); it is carried as a
// Container Apps secret only because a secret volume is how a file reaches a distroless image.
var fullConfig = '${rotatorConfig}\n\n[credential]\nkind = "managed-identity"\nclient_id = "${identityClientId}"\n'

resource job 'Microsoft.App/jobs@2024-03-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: managedEnvironment.id
    configuration: {
      triggerType: 'Schedule'
      scheduleTriggerConfig: {
        cronExpression: cronExpression
        parallelism: 1
        replicaCompletionCount: 1
      }
      replicaTimeout: replicaTimeout
      replicaRetryLimit: replicaRetryLimit
      secrets: [
        {
          name: 'rotator-toml'
          value: fullConfig
        }
      ]
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'akv-rotator'
          image: image
          args: [
            'once'
            '--config'
            '/etc/akv-rotator/rotator.toml'
            '--output'
            'json'
          ]
          env: [
            {
              // The user-assigned identity to use (also written into the config).
              name: 'AZURE_CLIENT_ID'
              value: identityClientId
            }
            {
              name: 'RUST_LOG'
              value: 'info'
            }
          ]
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: '/etc/akv-rotator'
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'rotator-toml'
              path: 'rotator.toml'
            }
          ]
        }
      ]
    }
  }
}

output jobId string = job.id
output environmentId string = managedEnvironment.id
