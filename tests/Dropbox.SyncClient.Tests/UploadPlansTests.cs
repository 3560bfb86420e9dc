using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The compact PlanUploads answer (each node and put token once, the puts naming them by index) filled in to the form
/// the rest of the client reads; the original form as it came; a hostile or broken table refused whole, changing nothing.
/// </summary>
public sealed class UploadPlansTests
{
    private static readonly ChunkLocation NodeA = new() { NodeId = "node-a", GrpcUrl = "http://127.0.0.1:1", HttpUrl = "http://127.0.0.1:2" };
    private static readonly ChunkLocation NodeB = new() { NodeId = "node-b", GrpcUrl = "http://127.0.0.1:3", HttpUrl = "http://127.0.0.1:4" };

    private static ByteString Id(int i) => ByteString.CopyFrom(Enumerable.Repeat((byte)i, 32).ToArray());

    private static PlanUploadsResponse Compact() => new()
    {
        Nodes = { NodeA, NodeB },
        Tokens = { "token-one", "token-two" },
        Results =
        {
            new PlanUploadResponse { Missing = { new ChunkPut { ChunkId = Id(1), NodeIndex = 0, TokenIndex = 0 }, new ChunkPut { ChunkId = Id(1), NodeIndex = 1, TokenIndex = 1 } } },
            new PlanUploadResponse { CurrentVersion = 7 },
            new PlanUploadResponse { Missing = { new ChunkPut { ChunkId = Id(2), NodeIndex = 0, TokenIndex = 0 } } },
        },
    };

    [Fact]
    public void A_compact_answer_gets_each_puts_node_and_token_from_its_tables()
    {
        var response = Compact();

        UploadPlans.Expand(response);

        var puts = response.Results.SelectMany(r => r.Missing).ToList();
        Assert.Equal(["node-a", "node-b", "node-a"], puts.Select(p => p.Node.NodeId));
        Assert.Equal(["token-one", "token-two", "token-one"], puts.Select(p => p.Token));
        Assert.Same(response.Tokens[0], puts[2].Token); // the table's string, not a copy per put
        Assert.Equal(7UL, response.Results[1].CurrentVersion);
    }

    [Fact]
    public void An_answer_in_the_original_form_is_left_as_it_came()
    {
        var response = new PlanUploadsResponse { Results = { new PlanUploadResponse { Missing = { new ChunkPut { ChunkId = Id(1), Node = NodeA, Token = "own" } } } } };
        var before = response.Clone();

        UploadPlans.Expand(response);

        Assert.Equal(before, response);
    }

    public static TheoryData<string> Malformations() => new()
    {
        "node-index-past-the-table",
        "token-index-past-the-table",
        "own-token-beside-tables",
        "own-node-beside-tables",
        "tokens-but-no-nodes",
    };

    [Theory]
    [MemberData(nameof(Malformations))]
    public void A_put_naming_what_the_tables_do_not_list_or_in_both_forms_fails_the_answer_and_fills_in_nothing(string how)
    {
        var response = Compact();
        var last = response.Results[2].Missing[0];
        switch (how)
        {
            case "node-index-past-the-table":
                last.NodeIndex = 2;
                break;
            case "token-index-past-the-table":
                last.TokenIndex = 5;
                break;
            case "own-token-beside-tables":
                last.Token = "own";
                break;
            case "own-node-beside-tables":
                last.Node = NodeB;
                break;
            case "tokens-but-no-nodes":
                response.Nodes.Clear();
                break;
        }

        var before = response.Clone();

        var e = Assert.Throws<DropboxException>(() => UploadPlans.Expand(response));

        Assert.Contains("upload plan", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, response);
    }
}
