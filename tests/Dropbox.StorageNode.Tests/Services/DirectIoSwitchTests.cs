using System.Runtime.InteropServices;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// <c>--direct-io on|off</c>: the words it takes and the message for any other; a real node (Kestrel on 127.0.0.1) started
/// with it off opens no segment with <c>O_DIRECT</c> (as the kernel reports for this process's open files in
/// <c>/proc/self/fdinfo</c>), where one started with it on (the default) does.
/// </summary>
public sealed class DirectIoSwitchTests
{
    [Theory]
    [InlineData("on", true)]
    [InlineData("off", false)]
    [InlineData("OFF", false)]
    public void The_switch_takes_on_and_off(string word, bool expected)
    {
        Assert.Equal(expected, DirectIoSwitch.Parse(word));
        Assert.Equal(word.ToLowerInvariant(), DirectIoSwitch.Format(expected));
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("")]
    [InlineData("0")]
    public void Any_other_word_is_refused_naming_the_flag_and_the_words_it_takes(string word)
    {
        var refused = Assert.Throws<DropboxException>(() => DirectIoSwitch.Parse(word));

        Assert.Equal(ErrorKind.InvalidArgument, refused.Kind);
        Assert.StartsWith("--direct-io takes on or off (", refused.Message, StringComparison.Ordinal);
        Assert.EndsWith($"got '{word}'.", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_node_opens_its_segments_with_o_direct_only_when_the_switch_is_on(bool directIo)
    {
        // Arrange: a node with the switch as given (on is the default, the control: this file system takes O_DIRECT).
        await using var node = await NodeFixture.StartAsync(o => directIo ? o : o with { DirectIo = false });

        // Act: a chunk large enough to be read directly, stored and read back.
        var chunk = TestChunks.Random(StoreLimits.DefaultMaxChunkBytes / 2, 61);
        Assert.Single((await node.PutRawAsync(chunk)).Results);
        var got = await node.GetAsync([chunk.Id]);

        // Assert: the bytes, and the segment's open handles: with the switch on the appender's and the direct reads' have
        // O_DIRECT; with it off none has.
        Assert.Equal(chunk.Bytes, Assert.Single(got).Data);
        var segments = OpenFilesUnder(Path.Combine(node.Options.DataDirectory, "segments"));
        Assert.NotEmpty(segments);
        Assert.Equal(directIo ? 2 : 0, segments.Count(f => f.Direct));
        Assert.Equal(directIo, ((ChunkEngine)node.Services.GetRequiredService<IChunkEngine>()).ActiveAppender!.IsDirect);
    }

    /// <summary>This process's open files under <paramref name="folder"/>, each with whether O_DIRECT is set on it.</summary>
    private static List<(string Path, bool Direct)> OpenFilesUnder(string folder)
    {
        Assert.True(OperatingSystem.IsLinux(), "reads /proc/self/fdinfo");
        var direct = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 ? 0x4000 : 0x10000;
        var found = new List<(string, bool)>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is null || !target.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    continue;
                }

                // "flags:\t0100002" (octal) among the lines of the descriptor's fdinfo.
                var flags = File.ReadLines($"/proc/self/fdinfo/{Path.GetFileName(fd)}").First(l => l.StartsWith("flags:", StringComparison.Ordinal));
                var value = Convert.ToInt32(flags["flags:".Length..].Trim(), 8);
                found.Add((target, (value & direct) != 0));
            }
            catch (IOException)
            {
                // Closed meanwhile (another test's file): not one of this node's segments.
            }
        }

        return found;
    }
}
