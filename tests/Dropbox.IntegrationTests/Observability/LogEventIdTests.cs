using System.Reflection;
using Dropbox.Appliance;
using Dropbox.MetadataNode;
using Dropbox.StorageNode;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dropbox.IntegrationTests.Observability;

/// <summary>
/// Every log event id names one message: operators filter and alert on ids, and <c>standalone</c> writes both nodes'
/// logs into one stream, so an id may not be reused by another message in any of the product's assemblies.
/// </summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void No_two_log_messages_of_the_product_share_an_event_id()
    {
        // Arrange
        Assembly[] assemblies =
        [
            typeof(MetadataNodeHost).Assembly,
            typeof(StorageNodeHost).Assembly,
            typeof(ApplianceCommandLine).Assembly,
            Assembly.Load("Dropbox.SyncClient"),
            Assembly.Load("Dropbox.Shared"),
        ];

        // Act
        var messages = assemblies
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is { EventId: >= 0 })
            .ToList();
        var shared = messages
            .GroupBy(x => x.Attribute!.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => $"{x.Method.DeclaringType!.FullName}.{x.Method.Name}"))}")
            .ToList();

        // Assert: the scan sees the messages (so an empty list of clashes means something), and none shares an id.
        Assert.True(messages.Count > 50, $"only {messages.Count} log messages were found: the scan does not see them");
        Assert.Empty(shared);
    }
}
