using Dropbox.Shared.Channels;
using System.Globalization;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Cli;

/// <summary>A linked client opened from its state directory: db, settings, remote clients.</summary>
internal sealed class ClientSession : IDisposable
{
    private readonly GrpcChannelCache _channels;
    private readonly HttpChunkTransfer _transfer;

    private ClientSession(LocalState state)
    {
        State = state;
        var trust = TrustFrom(state);
        _channels = ClientChannels.Create(trust);
        Server = state.GetSetting(StateKeys.Server) ?? throw NotLinked(state.StateDirectory);
        Token = state.GetSetting(StateKeys.Token) ?? throw NotLinked(state.StateDirectory);
        Folder = state.GetSetting(StateKeys.Folder) ?? throw NotLinked(state.StateDirectory);
        Device = state.GetSetting(StateKeys.Device) ?? Environment.MachineName;
        Metadata = new GrpcMetadataRemote(_channels, Server, Token);
        // DROPBOX_CHUNK_TRANSFER=grpc sends every chunk by gRPC (A/B measurements, or a proxy that passes only gRPC).
        var grpcOnly = string.Equals(Environment.GetEnvironmentVariable(TransferVariable), "grpc", StringComparison.OrdinalIgnoreCase);
        _transfer = new HttpChunkTransfer(trust, new GrpcChunkTransfer(_channels), grpcOnly ? int.MaxValue : HttpChunkTransfer.MinHttpChunkBytes, allowGets: !grpcOnly);
    }

    /// <summary>Environment variable that picks the chunk protocol: <c>grpc</c> for gRPC only; else presigned HTTP for big chunks.</summary>
    public const string TransferVariable = "DROPBOX_CHUNK_TRANSFER";

    public LocalState State { get; }

    public string Server { get; }

    public string Token { get; }

    public string Folder { get; }

    public string Device { get; }

    public IMetadataRemote Metadata { get; }

    public IChunkTransfer Transfer => _transfer;

    /// <summary>The state directory: <c>--state</c>, else $DROPBOX_CLIENT_STATE, else ~/.dropbox-client.</summary>
    public static string ResolveStateDirectory(CliArgs args)
    {
        var dir = args.Option("state") ?? Environment.GetEnvironmentVariable("DROPBOX_CLIENT_STATE");
        if (string.IsNullOrEmpty(dir))
        {
            dir = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dropbox-client");
        }

        return Path.GetFullPath(dir);
    }

    /// <summary>The server trust stored by login: its CA (PEM), else its pinned fingerprint, else the system's CAs.</summary>
    public static ServerTrust TrustFrom(LocalState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.GetSetting(StateKeys.TrustCa) is { Length: > 0 } pem)
        {
            return ServerTrust.ForCaPem(pem, "the CA given at login");
        }

        return state.GetSetting(StateKeys.TrustFingerprint) is { Length: > 0 } pin ? ServerTrust.ForFingerprint(pin) : ServerTrust.System;
    }

    public static ClientSession Open(string stateDirectory)
    {
        if (!File.Exists(Path.Combine(stateDirectory, LocalState.DatabaseFileName)))
        {
            throw NotLinked(stateDirectory);
        }

        var state = LocalState.Open(stateDirectory);
        try
        {
            return new ClientSession(state);
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>Sync options from the stored settings, overridden by the command line.</summary>
    public SyncOptions Options(CliArgs args) => new()
    {
        Parallelism = args.IntOption("parallelism") ?? SettingInt(StateKeys.Parallelism) ?? 4,
        MassDeleteShare = args.ShareOption("mass-delete-share") ?? StoredShare() ?? 0.5,
        MassDeleteMinimum = args.IntOption("mass-delete-min") ?? SettingInt(StateKeys.MassDeleteMinimum) ?? 10,
        AllowMassDelete = args.Flag("allow-mass-delete"),
        ConfirmNewFolder = args.Flag("confirm-new-folder"),
        Reconcile = args.Flag("reconcile"),
        StableAge = args.DurationOption("stable-age") ?? SettingDuration(StateKeys.StableAge) ?? SyncOptions.DefaultStableAge,
    };

    /// <summary>How often the daemon reconciles: <c>--reconcile-interval</c>, else the stored setting, else a day.</summary>
    public TimeSpan ReconcileInterval(CliArgs args)
    {
        var interval = args.DurationOption("reconcile-interval") ?? SettingDuration(StateKeys.ReconcileInterval) ?? SyncDaemon.DefaultReconcileInterval;
        return interval > TimeSpan.Zero ? interval : throw new UsageException("--reconcile-interval must be longer than zero.");
    }

    public SyncContext CreateContext(SyncOptions options, SyncProgress progress, bool fixedChunks, IChunkTransfer? transfer = null) => new()
    {
        Folder = Folder,
        State = State,
        Metadata = Metadata,
        Transfer = transfer ?? Transfer,
        Chunker = fixedChunks ? new PipelineChunkSource(new FixedSizeChunker()) : new PipelineChunkSource(),
        Device = Device,
        Options = options,
        Progress = progress,
    };

    public void Dispose()
    {
        _transfer.Dispose();
        _channels.Dispose();
        State.Dispose();
    }

    private int? SettingInt(string key) => State.GetSetting(key) is { } v && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    private TimeSpan? SettingDuration(string key) => State.GetSetting(key) is { } v && CliArgs.TryParseDuration(v, out var t) ? t : null;

    /// <summary>
    /// The mass-delete share stored by login. Login refuses one outside (0, 1] now; one stored by an older login (0 stops
    /// every delete, 5 none) is refused here, saying how to mend it, rather than guarding with it or with a default the
    /// user did not choose.
    /// </summary>
    private double? StoredShare()
    {
        if (State.GetSetting(StateKeys.MassDeleteShare) is not { } v)
        {
            return null;
        }

        return CliArgs.TryParseShare(v, out var d)
            ? d
            : throw new UsageException($"The mass-delete share stored in '{State.StateDirectory}' ('{v}', from an older login) is not in (0, 1]: "
                + "log in again with --mass-delete-share (such as 0.5), or give --mass-delete-share to this command.");
    }

    private static DropboxException NotLinked(string stateDirectory) => new(ErrorKind.NotFound,
        $"No linked account in state directory '{stateDirectory}'. Run: login --server URL --token TOKEN --folder DIR [--state DIR]");
}
