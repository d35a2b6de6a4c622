// Push for consumers (opt-in): Event Grid delivers Microsoft.KeyVault.SecretNewVersionCreated of
// the TOKEN vault to each consumer's endpoint, filtered to that consumer's own token secret, so
// it can re-read as soon as the rotator writes instead of when its cached copy reaches the margin.
// A nudge only: delivery is at least once, may come late or not at all, and carries no token.
// Consumers keep the contract of docs/consumers.md (cache until expires-on minus a margin,
// re-read on 401) with or without it.
// A vault has at most one Event Grid system topic: this module owns the token vault's.

param vaultName string
param location string
param tags object = {}

@description('{ consumers: [ { name, secretName, webhookUrl } or { name, secretName, destination } ] }. name: the event subscription (3-64 letters, digits, hyphens); secretName: the consumer\'s token secret; webhookUrl: HTTPS, answering Event Grid\'s validation handshake; or destination: an Event Grid destination object as is, e.g. { endpointType: \'StorageQueue\', properties: { resourceId: <storage account id>, queueName: \'token-updates\' } }. Secure: webhook URLs often embed a key.')
@secure()
param subscribers object

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

resource newVersion 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [for c in subscribers.consumers: {
  parent: topic
  name: c.name
  properties: {
    destination: contains(c, 'webhookUrl') ? {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: c.webhookUrl
        maxEventsPerBatch: 1
      }
    } : c.destination
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNewVersionCreated'
      ]
      // The event's subject is the secret's name too, but subject filters match prefixes and
      // suffixes: StringIn on data.ObjectName matches exactly this secret.
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.ObjectName'
          values: [
            c.secretName
          ]
        }
      ]
    }
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    // A nudge that arrives after the next write is worthless: retry briefly, then drop.
    retryPolicy: {
      maxDeliveryAttempts: 5
      eventTimeToLiveInMinutes: 30
    }
  }
}]

output systemTopicId string = topic.id
output subscriptionNames array = [for (c, i) in subscribers.consumers: newVersion[i].name]
