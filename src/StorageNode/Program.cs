using Dropbox.StorageNode;

// dotnet run --project src/StorageNode -- --data DIR --urls URL --keys DIR --metadata URL [--http-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL]
string? data = null, keys = null, metadata = null, nodeId = null, httpUrl = null, advertiseGrpc = null, advertiseHttp = null;
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
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: --data DIR --urls URL --keys DIR [--metadata URL] [--http-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL]");
            return 2;
    }
}

if (data is null || keys is null)
{
    Console.Error.WriteLine("Usage: --data DIR --urls URL --keys DIR [--metadata URL] [--http-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL]");
    return 2;
}

// "--urls a;b" gives the gRPC URL first and the plain HTTP URL second.
var parts = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var app = StorageNodeHost.Build(new StorageNodeOptions
{
    DataDirectory = data,
    KeysDirectory = keys,
    GrpcUrl = parts[0],
    HttpUrl = httpUrl ?? (parts.Length > 1 ? parts[1] : null),
    MetadataUrl = metadata,
    NodeId = nodeId,
    AdvertiseGrpcUrl = advertiseGrpc,
    AdvertiseHttpUrl = advertiseHttp,
});
await app.StartAsync();
var (grpc, http) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound;
Console.WriteLine($"storage node listening: grpc={grpc} http={http}");
await app.WaitForShutdownAsync();
await app.DisposeAsync();
return 0;
