namespace Dropbox.StorageNode.Engine;

/// <summary>One segment file as a snapshot sees it: its path, its recorded length, and whether the writer still appends to it.</summary>
/// <param name="Path">Full path of the segment file.</param>
/// <param name="Length">Bytes written when the hold began (set before their fsync, so the last records may not be durable yet: at worst orphans after a restore); a copy takes exactly these.</param>
/// <param name="Active">True for the segment the writer appends to: copy its bytes, never link it.</param>
public readonly record struct SegmentFile(string Path, long Length, bool Active);
