using Grpc.Core;

namespace Dropbox.SecurityTests.Infrastructure;

/// <summary>Assertions on refused calls.</summary>
internal static class Expect
{
    /// <summary>Runs a call that must fail with one of <paramref name="codes"/>; returns the exception for further checks.</summary>
    public static async Task<RpcException> RefusedAsync(Func<Task> call, params StatusCode[] codes)
    {
        try
        {
            await call();
        }
        catch (RpcException e)
        {
            Assert.True(codes.Contains(e.StatusCode), $"expected {string.Join(" or ", codes)}, got {e.StatusCode}: {e.Status.Detail}");
            return e;
        }

        Assert.Fail($"the call succeeded; expected {string.Join(" or ", codes)}");
        return null!;
    }

    /// <summary>The status of a call: OK or the code it failed with.</summary>
    public static async Task<StatusCode> StatusOfAsync(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }
}
