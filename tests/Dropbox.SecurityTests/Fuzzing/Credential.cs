namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>An "authorization" header to send (null: none), with a label for reports.</summary>
internal sealed record Credential(string Label, string? Header, int Weight);
