using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class UploadCommit
{
    /// <summary>
    /// RESOURCE_EXHAUSTED if writing <paramref name="newSize"/> bytes at <paramref name="path"/> (replacing
    /// <paramref name="currentSize"/>) would take the account over its quota.
    /// </summary>
    internal static void EnsureWithinQuota(NamespaceRecord record, string path, ulong newSize, ulong currentSize)
    {
        if (record.QuotaBytes == 0 || newSize <= currentSize)
        {
            return;
        }

        // Saturating: a size near 2^64 must not wrap around to a small total and pass.
        var kept = record.TotalBytes - Math.Min(record.TotalBytes, currentSize);
        var after = newSize > ulong.MaxValue - kept ? ulong.MaxValue : kept + newSize;
        if (after > record.QuotaBytes)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted,
                $"Over quota: '{path}' ({newSize} bytes) would bring account '{record.Owner}' to {after} bytes, over its quota of {record.QuotaBytes} bytes ({record.TotalBytes} used). Delete files, or ask an admin to raise the quota ('user quota {record.Owner} BYTES').");
        }
    }
}
