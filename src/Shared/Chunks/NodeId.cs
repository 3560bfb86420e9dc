namespace Dropbox.Shared.Chunks;

/// <summary>A storage node's stable name (letters, digits, '-', '_', '.'; at most 64 characters).</summary>
public readonly record struct NodeId
{
    /// <summary>Validates and wraps a node name.</summary>
    public NodeId(string value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 64 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"A node id is 1-64 characters of letters, digits, '-', '_' or '.'; got '{value}'.", nameof(value));
        }

        Value = value;
    }

    /// <summary>The name.</summary>
    public string Value { get; }

    /// <inheritdoc />
    public override string ToString() => Value;
}
