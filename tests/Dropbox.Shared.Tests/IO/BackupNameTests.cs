using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;

namespace Dropbox.Shared.Tests.IO;

public sealed class BackupNameTests
{
    [Theory]
    [InlineData("20261201T224501Z")]
    [InlineData("20261201T224501Z-3")]
    public void A_stamp_is_a_backup_name(string name) => Assert.Equal(name, BackupName.Validate(name));

    [Theory]
    [InlineData("20261201T224501Z\n")]
    [InlineData("20261201T224501Z-3\n")]
    [InlineData("../20261201T224501Z")]
    [InlineData("")]
    public void Anything_else_even_a_stamp_with_a_trailing_newline_is_refused(string name) =>
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<DropboxException>(() => BackupName.Validate(name)).Kind);
}
