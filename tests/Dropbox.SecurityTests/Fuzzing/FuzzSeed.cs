namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>A valid request to start mutating from: one frame for a unary or server-streaming call, several for a client stream.</summary>
internal sealed record FuzzSeed(string Name, IReadOnlyList<byte[]> Frames);
