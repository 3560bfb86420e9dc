using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;

namespace Dropbox.Shared.Tests.Tokens;

public sealed class ChunkTokenServiceTests : IDisposable
{
    private static readonly ChunkId Chunk = ChunkId.Compute("chunk"u8);
    private static readonly ChunkId Other = ChunkId.Compute("other"u8);

    private readonly TempFolder _temp = new();
    private readonly string _keys;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly ChunkTokenService _service;

    public ChunkTokenServiceTests()
    {
        _keys = _temp.Sub("keys");
        _service = ChunkTokenService.ForKeyDirectory(_keys, _clock);
    }

    public void Dispose() => _temp.Dispose();

    private string IssuePut() => _service.Issue(TokenOperation.Put, "alice", "node-1", [Chunk], TimeSpan.FromMinutes(15));

    [Fact]
    public void An_issued_token_validates_and_reads_back_its_grant()
    {
        var token = IssuePut();

        var grant = _service.Validate(token, TokenOperation.Put, "node-1", Chunk);

        Assert.Equal(TokenOperation.Put, grant.Operation);
        Assert.Equal("alice", grant.Namespace);
        Assert.Equal("node-1", grant.NodeId);
        Assert.Equal([Chunk], grant.ChunkIds);
        Assert.Equal(_clock.Now.AddMinutes(15), grant.Expires);
    }

    [Fact]
    public void A_second_service_on_the_same_key_ring_accepts_the_token()
    {
        var token = IssuePut();
        var storageSide = ChunkTokenService.ForKeyDirectory(_keys, _clock);

        Assert.Equal("alice", storageSide.Validate(token, TokenOperation.Put, "node-1", Chunk).Namespace);
    }

    [Fact]
    public void A_token_read_while_valid_is_refused_as_expired_once_its_time_has_passed()
    {
        var read = _service.Read(IssuePut());
        _service.EnsureUnexpired(read);
        _clock.Now += TimeSpan.FromMinutes(15);

        var ex = Assert.Throws<DropboxException>(() => _service.EnsureUnexpired(read));

        Assert.Equal(ErrorKind.Unauthenticated, ex.Kind);
        Assert.StartsWith("Expired token", ex.Message);
    }

    [Fact]
    public void An_expired_token_is_unauthenticated()
    {
        var token = IssuePut();
        _clock.Now += TimeSpan.FromMinutes(15);

        var ex = Assert.Throws<DropboxException>(() => _service.Validate(token, TokenOperation.Put, "node-1", Chunk));

        Assert.Equal(ErrorKind.Unauthenticated, ex.Kind);
        Assert.StartsWith("Expired token", ex.Message);
    }

    [Fact]
    public void A_forged_token_is_unauthenticated()
    {
        var token = IssuePut();
        var middle = token.Length / 2;
        var forged = token[..middle] + (token[middle] == 'A' ? 'B' : 'A') + token[(middle + 1)..];

        var ex = Assert.Throws<DropboxException>(() => _service.Validate(forged, TokenOperation.Put, "node-1", Chunk));

        Assert.Equal(ErrorKind.Unauthenticated, ex.Kind);
        Assert.StartsWith("Invalid token", ex.Message);
    }

    [Fact]
    public void A_token_from_another_key_ring_is_unauthenticated()
    {
        var token = ChunkTokenService.ForKeyDirectory(_temp.Sub("other-keys"), _clock).Issue(TokenOperation.Put, "alice", "node-1", [Chunk], TimeSpan.FromMinutes(5));

        var ex = Assert.Throws<DropboxException>(() => _service.Validate(token, TokenOperation.Put, "node-1", Chunk));

        Assert.Equal(ErrorKind.Unauthenticated, ex.Kind);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void A_missing_token_is_unauthenticated(string? token)
    {
        var ex = Assert.Throws<DropboxException>(() => _service.Validate(token, TokenOperation.Put, "node-1", Chunk));

        Assert.Equal(ErrorKind.Unauthenticated, ex.Kind);
        Assert.StartsWith("Missing token", ex.Message);
    }

    [Fact]
    public void A_token_for_another_node_is_permission_denied()
    {
        var ex = Assert.Throws<DropboxException>(() => _service.Validate(IssuePut(), TokenOperation.Put, "node-2", Chunk));

        Assert.Equal(ErrorKind.PermissionDenied, ex.Kind);
        Assert.StartsWith("Wrong node", ex.Message);
    }

    [Fact]
    public void A_token_for_another_chunk_is_permission_denied()
    {
        var ex = Assert.Throws<DropboxException>(() => _service.Validate(IssuePut(), TokenOperation.Put, "node-1", Other));

        Assert.Equal(ErrorKind.PermissionDenied, ex.Kind);
        Assert.StartsWith("Wrong chunk", ex.Message);
    }

    [Fact]
    public void A_token_for_another_operation_is_permission_denied()
    {
        var ex = Assert.Throws<DropboxException>(() => _service.Validate(IssuePut(), TokenOperation.Get, "node-1", Chunk));

        Assert.Equal(ErrorKind.PermissionDenied, ex.Kind);
        Assert.StartsWith("Wrong operation", ex.Message);
    }

    [Fact]
    public void A_system_token_without_chunks_covers_every_chunk()
    {
        var token = _service.Issue(TokenOperation.System, "_system", "node-1", [], TimeSpan.FromMinutes(1));

        Assert.True(_service.Validate(token, TokenOperation.System, "node-1", Other).Covers(Chunk));
    }
}
