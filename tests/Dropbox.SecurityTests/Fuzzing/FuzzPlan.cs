using Google.Protobuf;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>Everything to fuzz one node: a target per rpc, and pools of real values (tokens, cursors, paths, ids) to swap in.</summary>
internal sealed record FuzzPlan(string Node, IReadOnlyList<FuzzTarget> Targets, IReadOnlyList<string> Strings, IReadOnlyList<ByteString> Bytes);
