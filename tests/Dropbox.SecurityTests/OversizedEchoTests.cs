using Dropbox.SecurityTests.Fuzzing;
using Dropbox.SecurityTests.Infrastructure;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;

namespace Dropbox.SecurityTests;

/// <summary>
/// A refusal must not echo unbounded input: a status message travels in an HTTP/2 header, and one past the client's
/// 64 KiB header limit kills the whole connection, failing every other call on it as UNAVAILABLE or INTERNAL.
/// Every string field of every request of both nodes, one at a time, holds 200,000 characters.
/// </summary>
public sealed class OversizedEchoTests(ApplianceFixture fixture) : IClassFixture<ApplianceFixture>
{
    private const int MaxDetailChars = 8 * 1024;
    private readonly Appliance _app = fixture.Appliance;
    private readonly (int, int) _logMark = fixture.Appliance.LogMark();

    [Fact]
    public async Task No_refusal_of_either_node_echoes_a_huge_string_field_back()
    {
        var metadata = await FuzzTargets.MetadataAsync(_app);
        var storage = await FuzzTargets.StorageAsync(_app);
        var huge = string.Concat(Enumerable.Repeat("é/ab", 50_000));
        var failures = new List<string>();

        foreach (var (plan, channel) in new[] { (metadata, _app.MetadataChannel), (storage, _app.StorageChannel) })
        {
            var invoker = channel.CreateCallInvoker();
            foreach (var target in plan.Targets)
            {
                var seed = target.Seeds[0];
                for (var frame = 0; frame < seed.Frames.Count; frame++)
                {
                    foreach (var (label, bytes) in WithEachStringHuge(seed.Frames[frame], target.Method.InputType, huge))
                    {
                        var frames = seed.Frames.ToList();
                        frames[frame] = bytes;
                        var status = await RawCall.SendAsync(invoker, target, frames, target.Credentials.First(c => c.Header is not null).Header, TimeSpan.FromSeconds(30));
                        if (status.Detail.Length > MaxDetailChars || status.StatusCode is StatusCode.Internal or StatusCode.Unknown or StatusCode.Unavailable)
                        {
                            failures.Add($"{target.Name} with {label} huge: {status.StatusCode}, detail of {status.Detail.Length} chars: {status.Detail[..Math.Min(200, status.Detail.Length)]}");
                        }
                    }
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        _app.AssertNoUnhandledExceptions(_logMark);
    }

    /// <summary>The message once per string field (top level and one level down), that field set to <paramref name="huge"/>.</summary>
    private static IEnumerable<(string Label, byte[] Bytes)> WithEachStringHuge(byte[] seed, MessageDescriptor type, string huge)
    {
        foreach (var field in type.Fields.InFieldNumberOrder())
        {
            if (field.FieldType == FieldType.String && !field.IsRepeated)
            {
                var message = type.Parser.ParseFrom(seed);
                field.Accessor.SetValue(message, huge);
                yield return (field.Name, message.ToByteArray());
            }
            else if (field.FieldType == FieldType.Message)
            {
                foreach (var inner in field.MessageType.Fields.InFieldNumberOrder().Where(f => f.FieldType == FieldType.String && !f.IsRepeated))
                {
                    var message = type.Parser.ParseFrom(seed);
                    IMessage? sub = field.IsRepeated
                        ? ((System.Collections.IList)field.Accessor.GetValue(message)).Cast<IMessage>().FirstOrDefault()
                        : (IMessage?)field.Accessor.GetValue(message);
                    if (sub is null)
                    {
                        continue;
                    }

                    inner.Accessor.SetValue(sub, huge);
                    yield return ($"{field.Name}.{inner.Name}", message.ToByteArray());
                }
            }
        }
    }
}
