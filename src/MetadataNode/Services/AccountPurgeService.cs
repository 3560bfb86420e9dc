using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Hosting;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Services;

/// <summary>
/// Purges removed users' accounts every <see cref="MetadataNodeOptions.PurgeInterval"/>, whether or not garbage
/// collection runs (<see cref="MetadataNodeOptions.GcInterval"/> zero must not keep a removed account's data forever).
/// </summary>
internal sealed class AccountPurgeService : PeriodicWorkService
{
    private readonly MetadataStore _store;
    private readonly MetadataNodeOptions _options;
    private readonly ILogger<AccountPurgeService> _logger;

    public AccountPurgeService(MetadataStore store, MetadataNodeOptions options, ILogger<AccountPurgeService> logger)
    {
        _store = store;
        _options = options;
        _logger = logger;
    }

    protected override TimeSpan Interval => _options.PurgeInterval;

    protected override Task RunOnceAsync(CancellationToken cancellationToken)
    {
        _store.PurgeRemovedAccounts();
        return Task.CompletedTask;
    }

    protected override void OnRunFailed(Exception exception) => Log.PurgeFailed(_logger, exception);
}
