// Event Grid system topic on a vault and a subscription delivering
// Microsoft.KeyVault.SecretNearExpiry (and SecretExpired) to a webhook: an alert path that does
// not depend on the rotator running. Use it on the vault holding CLIENT SECRETS: token secrets
// expire every hour by design and would fire constantly.

param vaultName string
param location string
param tags object = {}

@description('HTTPS webhook receiving the events (it must answer the Event Grid validation handshake). Treat the URL as a secret: it often embeds a key.')
@secure()
param webhookEndpoint string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'egst-${vaultName}'
  location: location
  tags: tags
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource nearExpirySubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'secret-near-expiry'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: webhookEndpoint
        maxEventsPerBatch: 1
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
      ]
    }
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output systemTopicId string = topic.id
