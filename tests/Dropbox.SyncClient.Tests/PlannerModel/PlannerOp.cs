namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// One random edit, read against the tree it applies to: <see cref="Kind"/> picks the edit, <see cref="A"/> an
/// existing path (modulo their count), <see cref="B"/> a parent folder and <see cref="C"/> a name. Small numbers
/// mean small trees, so shrinking (fewer ops, smaller numbers) gives small cases.
/// </summary>
internal readonly record struct PlannerOp(int Kind, int A, int B, int C)
{
    /// <summary>Names with a case-only twin each, so case clashes and case-only renames come up often.</summary>
    public static readonly string[] Names = ["a", "b", "A", "B"];

    public override string ToString() => $"new({Kind}, {A}, {B}, {C})";
}
