namespace Dropbox.StorageNode.Engine;

/// <summary>What an append did.</summary>
public enum AppendOutcome
{
    /// <summary>The bytes were written and are durable.</summary>
    Stored,

    /// <summary>The chunk was already held; nothing was written.</summary>
    AlreadyPresent,
}
