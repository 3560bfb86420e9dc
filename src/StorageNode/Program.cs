using Dropbox.StorageNode;

// dotnet run --project src/StorageNode -- --data DIR --urls URL --keys DIR --metadata URL [--http-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL] [--scrub-interval-hours H]
string? data = null, keys = null, metadata = null, nodeId = null, httpUrl = null, advertiseGrpc = null, advertiseHttp = null;
double? scrubHours = null;
var urls = "http://127.0.0.1:5081";
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--data": data = Next(); break;
        case "--urls": urls = Next(); break;
        case "--http-url": httpUrl = Next(); break;
        case "--keys": keys = Next(); break;
        case "--metadata": metadata = Next(); break;
        case "--node-id": nodeId = Next(); break;
        case "--advertise-grpc-url": advertiseGrpc = Next(); break;
        case "--advertise-http-url": advertiseHttp = Next(); break;
        case "--scrub-interval-hours":
            if (!double.TryParse(Next(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var hours) || hours < 0)
            {
                Console.Error.WriteLine($"--scrub-interval-hours needs a number of hours >= 0 (0 turns scheduled scrubs off), not '{args[i]}'.");
                return 2;
            }

            scrubHours = hours;
            break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: --data DIR --urls URL --keys DIR [--metadata URL] [--http-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL] [--scrub-interval-hours H]");
            return 2;
    }
}

if (data is null || keys is null)
{
    Console.Error.WriteLine("Usage: --data DIR --urls URL --keys DIR [--metadata URL] [--http-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL] [--scrub-interval-hours H]");
    return 2;
}

// "--urls a;b" gives the gRPC URL first and the plain HTTP URL second.
var parts = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var nodeOptions = new StorageNodeOptions
{
    DataDirectory = data,
    KeysDirectory = keys,
    GrpcUrl = parts[0],
    HttpUrl = httpUrl ?? (parts.Length > 1 ? parts[1] : null),
    MetadataUrl = metadata,
    NodeId = nodeId,
    AdvertiseGrpcUrl = advertiseGrpc,
    AdvertiseHttpUrl = advertiseHttp,
};
if (scrubHours is { } h)
{
    nodeOptions = nodeOptions with { ScrubInterval = TimeSpan.FromHours(h) };
}

var app = StorageNodeHost.Build(nodeOptions);
await app.StartAsync();
var (grpc, http) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound;
Console.WriteLine($"storage node listening: grpc={grpc} http={http}");
await app.WaitForShutdownAsync();
await app.DisposeAsync();
return 0;
