using Dropbox.Hosting;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;
using Dropbox.StorageNode;

// dotnet run --project src/StorageNode -- --data DIR --urls URL --keys DIR --metadata URL [--http-url URL] [--metrics-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL] [--scrub-interval-hours H] [--reserve-mb MB] [--backup-dir DIR]
//   [--direct-io on|off] [--tls-cert FILE --tls-key FILE] [--tls-ca FILE] [--insecure-http] [--log-format text|json] [--log-level LEVEL] [--exit-with-parent]
const string Usage = "Usage: --data DIR --urls URL[;HTTPURL] --keys DIR [--metadata URL] [--http-url URL] [--metrics-url URL] [--node-id ID] [--advertise-grpc-url URL] [--advertise-http-url URL] [--scrub-interval-hours H] [--reserve-mb MB] [--backup-dir DIR] [--direct-io on|off] [--tls-cert FILE --tls-key FILE] [--tls-ca FILE] [--insecure-http] [--log-format text|json] [--log-level LEVEL] [--exit-with-parent]\n" +
    "  --backup-dir: where online backups put this node's snapshot (default DATA/backups; on DATA's file system segments are hard-linked).\n" +
    "  --direct-io: on (default) reads large records and appends segments with O_DIRECT where the file system allows it; off: through the page cache.\n" +
    "  https URLs need --tls-cert/--tls-key (PEM); http beyond loopback needs --insecure-http; --tls-ca: the CA of the metadata node's certificate.\n" +
    "  The HTTP/1.1 URL (presigned links) also serves /healthz and /readyz; /metrics is served only on --metrics-url\n" +
    "  (HTTP/1.1, default a free port on 127.0.0.1): bind it where only your scraper reaches, never clients.\n" +
    "  --exit-with-parent: stdin is a pipe from the program that started this node; the node stops when it closes (the parent died).";
string? data = null, keys = null, metadata = null, nodeId = null, httpUrl = null, metricsUrl = null, advertiseGrpc = null, advertiseHttp = null, tlsCert = null, tlsKey = null, tlsCa = null, backupDir = null;
var insecureHttp = false;
var exitWithParent = false;
var directIo = true;
var logging = new NodeLogging();
double? scrubHours = null;
long? reserveMb = null;
var urls = "http://127.0.0.1:5081";
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new DropboxException(ErrorKind.InvalidArgument, $"{args[i]} needs a value.");
        switch (args[i])
        {
            case "--data": data = Next(); break;
            case "--urls": urls = Next(); break;
            case "--http-url": httpUrl = Next(); break;
            case "--metrics-url": metricsUrl = Next(); break;
            case "--keys": keys = Next(); break;
            case "--metadata": metadata = Next(); break;
            case "--node-id": nodeId = Next(); break;
            case "--backup-dir": backupDir = Next(); break;
            case "--advertise-grpc-url": advertiseGrpc = Next(); break;
            case "--advertise-http-url": advertiseHttp = Next(); break;
            case "--tls-cert": tlsCert = Next(); break;
            case "--tls-key": tlsKey = Next(); break;
            case "--tls-ca": tlsCa = Next(); break;
            case "--insecure-http": insecureHttp = true; break;
            case ParentWatch.Flag: exitWithParent = true; break;
            case "--log-format" or "--log-level":
                var flag = args[i];
                var value = Next();
                logging = flag == "--log-format" ? logging with { Format = NodeLogging.ParseFormat(value) } : logging with { MinimumLevel = NodeLogging.ParseLevel(value) };
                break;
            case DirectIoSwitch.Flag: directIo = DirectIoSwitch.Parse(Next()); break;
            case "--reserve-mb":
                if (!long.TryParse(Next(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var mb) || mb < 0)
                {
                    Console.Error.WriteLine($"--reserve-mb needs a whole number of MiB >= 0 (free space the node keeps on its data disk), not '{args[i]}'.");
                    return 2;
                }

                reserveMb = mb;
                break;
            case "--scrub-interval-hours":
                if (!double.TryParse(Next(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var hours) || hours < 0)
                {
                    Console.Error.WriteLine($"--scrub-interval-hours needs a number of hours >= 0 (0 turns scheduled scrubs off), not '{args[i]}'.");
                    return 2;
                }

                scrubHours = hours;
                break;
            default:
                Console.Error.WriteLine($"Unknown argument '{args[i]}'. {Usage}");
                return 2;
        }
    }
}
catch (DropboxException ex) when (ex.Kind == ErrorKind.InvalidArgument)
{
    // A flag given last without its value, or a value its parser refuses (--log-format, --log-level, --direct-io).
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}

if (data is null || keys is null)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

if ((tlsCert is null) != (tlsKey is null))
{
    Console.Error.WriteLine("error: --tls-cert and --tls-key go together: give both (PEM certificate and PEM private key) or neither.");
    return 2;
}

// "--urls a;b" gives the gRPC URL first and the plain HTTP URL second.
var parts = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
Microsoft.AspNetCore.Builder.WebApplication app;
try
{
    var nodeOptions = new StorageNodeOptions
    {
        DataDirectory = data,
        BackupDirectory = backupDir,
        KeysDirectory = keys,
        GrpcUrl = parts[0],
        HttpUrl = httpUrl ?? (parts.Length > 1 ? parts[1] : null),
        MetadataUrl = metadata,
        NodeId = nodeId,
        AdvertiseGrpcUrl = advertiseGrpc,
        AdvertiseHttpUrl = advertiseHttp,
        TlsCertificate = tlsCert is null ? null : ServerCertificate.Load(tlsCert, tlsKey!),
        InsecureHttp = insecureHttp,
        DirectIo = directIo,
        MetadataTrust = tlsCa is null ? ServerTrust.System : ServerTrust.ForCaFile(tlsCa, "--tls-ca"),
    };
    if (metricsUrl is not null)
    {
        nodeOptions = nodeOptions with { MetricsUrl = metricsUrl };
    }

    if (reserveMb is { } reserve)
    {
        nodeOptions = nodeOptions with { ReserveBytes = reserve * 1024 * 1024 };
    }

    if (scrubHours is { } h)
    {
        nodeOptions = nodeOptions with { ScrubInterval = TimeSpan.FromHours(h) };
    }

    app = StorageNodeHost.Build(nodeOptions, logging.Apply);
}
catch (DropboxException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return ex.Kind == ErrorKind.InvalidArgument ? 2 : 1;
}

if (exitWithParent)
{
    // Before the start: a parent that dies while the node starts must not leave it running either.
    ParentWatch.WatchStandardInput(app.Lifetime.StopApplication, TimeSpan.FromSeconds(30));
}

await app.StartAsync();
var (grpc, http) = await app.Services.GetRequiredService<NodeAddresses>().WhenBound;
Console.WriteLine($"storage node listening: grpc={grpc} http={http}");
Console.WriteLine($"metrics: {app.Services.GetRequiredService<OperatorListener>().Url}{NodeObservability.MetricsPath}");
await app.WaitForShutdownAsync();
await app.DisposeAsync();
return 0;
