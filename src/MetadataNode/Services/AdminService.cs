using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.Shared.Protos.Admin;
using Dropbox.MetadataNode.Services.Mapping;
using Grpc.Core;

namespace Dropbox.MetadataNode.Services;

/// <summary>The admin API (dropbox.admin.v1.Admin): an admin's token, then the store's user operations.</summary>
internal sealed class AdminService : Admin.AdminBase
{
    private readonly MetadataStore _store;
    private readonly CallAuthenticator _auth;
    private readonly OnlineCheck _check;
    private readonly OnlineBackup _backup;

    public AdminService(MetadataStore store, CallAuthenticator auth, OnlineCheck check, OnlineBackup backup)
    {
        _store = store;
        _auth = auth;
        _check = check;
        _backup = backup;
    }

    public override async Task<CheckResponse> Check(CheckRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var report = await _check.RunAsync(request.VerifyChunks, context.CancellationToken).ConfigureAwait(false);
        var response = new CheckResponse { ChunksVerified = (ulong)report.ChunksVerified };
        response.Problems.AddRange(report.Problems);
        response.Notes.AddRange(report.Notes);
        return response;
    }

    public override async Task<BackupResponse> Backup(BackupRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var report = await _backup.RunAsync((int)Math.Min(request.Keep, int.MaxValue), context.CancellationToken).ConfigureAwait(false);
        var response = new BackupResponse
        {
            Name = report.Name,
            MetadataPath = report.MetadataPath,
            KeysPath = report.KeysPath,
            Complete = report.Complete,
            MissingChunks = (ulong)report.MissingChunks,
        };
        response.Nodes.AddRange(report.Nodes.Select(n => new NodeBackup
        {
            NodeId = n.NodeId,
            Path = n.Path,
            Segments = (uint)n.Segments,
            Linked = (uint)n.Linked,
            Bytes = (ulong)n.Bytes,
            Error = n.Error ?? string.Empty,
        }));
        response.SkippedNodes.AddRange(report.SkippedNodes);
        response.Removed.AddRange(report.Removed);
        return response;
    }

    public override Task<AddUserResponse> AddUser(AddUserRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var (user, token) = _store.AddUser(request.Name, request.Admin, request.QuotaBytes);
        return Task.FromResult(new AddUserResponse { User = AdminMapping.ToProto(_store.GetUserDetails(user.Name)), Token = token });
    }

    public override Task<ListUsersResponse> ListUsers(ListUsersRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var response = new ListUsersResponse();
        response.Users.AddRange(_store.ListUserDetails().Select(AdminMapping.ToProto));
        return Task.FromResult(response);
    }

    public override Task<RemoveUserResponse> RemoveUser(RemoveUserRequest request, ServerCallContext context)
    {
        var admin = _auth.Admin(context);
        if (string.Equals(admin.Name, request.Name, StringComparison.Ordinal))
        {
            throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.InvalidArgument, $"An admin cannot remove themself ('{request.Name}'): another admin must, so the server always keeps one.");
        }

        _store.RemoveUser(request.Name);
        return Task.FromResult(new RemoveUserResponse());
    }

    public override Task<RotateTokenResponse> RotateToken(RotateTokenRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        return Task.FromResult(new RotateTokenResponse { Token = _store.RotateToken(request.Name) });
    }

    public override async Task<SetQuotaResponse> SetQuota(SetQuotaRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var user = await _store.SetQuotaAsync(request.Name, request.QuotaBytes).ConfigureAwait(false);
        return new SetQuotaResponse { User = AdminMapping.ToProto(user) };
    }

    public override Task<ListNodesResponse> ListNodes(ListNodesRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var report = Domain.Replication.NodeReport.Build(_store);
        var response = new ListNodesResponse { UnderReplicated = (ulong)report.UnderReplicated, ReplicationFactor = (uint)_store.ReplicationFactor };
        response.Nodes.AddRange(report.States.All.OrderBy(n => n.NodeId, StringComparer.Ordinal).Select(n => AdminMapping.ToProto(n, report, _store.Nodes.RestartFenceUntil(n.NodeId))));
        response.Nodes.AddRange(_store.Nodes.Forgotten().OrderBy(n => n.NodeId, StringComparer.Ordinal).Select(AdminMapping.ToProto));
        return Task.FromResult(response);
    }

    public override Task<DrainNodeResponse> DrainNode(DrainNodeRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        var node = _store.SetDraining(request.NodeId, !request.Cancel);
        return Task.FromResult(new DrainNodeResponse { Node = AdminMapping.ToProto(node, Domain.Replication.NodeReport.Build(_store), _store.Nodes.RestartFenceUntil(node.NodeId)) });
    }

    public override Task<ForgetNodeResponse> ForgetNode(ForgetNodeRequest request, ServerCallContext context)
    {
        _auth.Admin(context);
        return Task.FromResult(AdminMapping.ToProto(_store.ForgetNode(request.NodeId, request.Force, request.Live)));
    }
}
