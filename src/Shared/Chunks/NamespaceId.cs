namespace Dropbox.Shared.Chunks;

/// <summary>
/// A user's namespace: the unit of isolation, versions and change sequence.
/// (Named NamespaceId rather than Namespace so it never reads like the C# keyword.)
/// </summary>
public readonly record struct NamespaceId
{
    /// <summary>The name used by node-to-node (system) tokens.</summary>
    public const string SystemValue = "_system";

    /// <summary>Validates and wraps a namespace name.</summary>
    public NamespaceId(string value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 64 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new ArgumentException($"A namespace id is 1-64 characters of letters, digits, '-' or '_'; got '{value}'.", nameof(value));
        }

        Value = value;
    }

    /// <summary>The system namespace, for node-to-node calls.</summary>
    public static NamespaceId System { get; } = new(SystemValue);

    /// <summary>The name.</summary>
    public string Value { get; }

    /// <inheritdoc />
    public override string ToString() => Value;
}
