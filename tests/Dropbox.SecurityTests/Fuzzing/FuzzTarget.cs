using Google.Protobuf.Reflection;
using Grpc.Core;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>One rpc of a node under fuzzing: its descriptor, valid seeds, and the credentials to try with it.</summary>
internal sealed record FuzzTarget(ServiceDescriptor Service, MethodDescriptor Method, IReadOnlyList<FuzzSeed> Seeds, IReadOnlyList<Credential> Credentials)
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    /// <summary>Applied to every mutated frame before it is sent (e.g. to keep the node's outbound traffic on loopback).</summary>
    public Func<byte[], byte[]> Sanitize { get; init; } = frame => frame;

    public string Name => $"{Service.Name}/{Method.Name}";

    public MethodType Type => (Method.IsClientStreaming, Method.IsServerStreaming) switch
    {
        (false, false) => MethodType.Unary,
        (true, false) => MethodType.ClientStreaming,
        (false, true) => MethodType.ServerStreaming,
        _ => MethodType.DuplexStreaming,
    };

    /// <summary>The method with byte-array marshallers: whatever bytes a case holds go on the wire as they are.</summary>
    public Method<byte[], byte[]> RawMethod { get; } = new(
        (Method.IsClientStreaming, Method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (true, false) => MethodType.ClientStreaming,
            (false, true) => MethodType.ServerStreaming,
            _ => MethodType.DuplexStreaming,
        },
        Service.FullName,
        Method.Name,
        Raw,
        Raw);

    public Credential PickCredential(Random random)
    {
        var total = Credentials.Sum(c => c.Weight);
        var roll = random.Next(total);
        foreach (var c in Credentials)
        {
            if ((roll -= c.Weight) < 0)
            {
                return c;
            }
        }

        return Credentials[^1];
    }
}
