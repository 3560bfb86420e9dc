using System.Globalization;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// File links (<c>link PATH</c>): <c>GET /l/{token}/{name}</c> answers the whole linked version of a file as one body,
/// for a browser or curl, with Content-Length and Content-Disposition (the file's name). The token is checked here
/// first (altered or foreign: 403; expired: 410), then the metadata node resolves it (gone: 404) and
/// <see cref="LinkedFileReader"/> streams the chunks. The name in the URL is for the browser's "save as"; the token
/// alone says what is served. A failure after the first byte ends the connection early, so the client sees a
/// short body, never a wrong one.
/// </summary>
public static partial class FileLinkEndpoints
{
    /// <summary>Maps <c>GET</c> and <c>HEAD</c> on <c>/l/{token}/{name}</c> (and <c>/l/{token}</c>).</summary>
    public static IEndpointRouteBuilder MapFileLinks(this IEndpointRouteBuilder endpoints)
    {
        string[] methods = [HttpMethods.Get, HttpMethods.Head];
        endpoints.MapMethods("/l/{token}", methods, ServeAsync);
        endpoints.MapMethods("/l/{token}/{**name}", methods, ServeAsync);
        return endpoints;
    }

    private static async Task ServeAsync(HttpContext http, string token, LinkedFileReader reader, ILoggerFactory loggers)
    {
        var ct = http.RequestAborted;
        Dropbox.Shared.Protos.Metadata.GetDownloadPlanResponse first;
        FileLink? link = null;
        try
        {
            link = reader.Links.Read(token);
            if (reader.Links.IsExpired(link))
            {
                await RefuseAsync(http, StatusCodes.Status410Gone).ConfigureAwait(false);
                return;
            }

            first = await reader.ResolveAsync(token, 0, ct).ConfigureAwait(false);
        }
        catch (DropboxException e)
        {
            var status = e.Kind switch
            {
                // It expired while the metadata node was asked (a link made to last seconds): gone, not forged.
                ErrorKind.Unauthenticated when link is not null && reader.Links.IsExpired(link) => StatusCodes.Status410Gone,
                ErrorKind.Unauthenticated or ErrorKind.PermissionDenied => StatusCodes.Status403Forbidden,
                ErrorKind.NotFound => StatusCodes.Status404NotFound,
                ErrorKind.InvalidArgument => StatusCodes.Status404NotFound,
                ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status502BadGateway,
            };
            await RefuseAsync(http, status).ConfigureAwait(false);
            return;
        }

        var entry = first.Entry;
        var name = entry.Path[(entry.Path.LastIndexOf('/') + 1)..];
        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName(name);
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/octet-stream";
        http.Response.ContentLength = (long)entry.Size;
        http.Response.Headers.ContentDisposition = disposition.ToString();
        http.Response.Headers.CacheControl = "private, no-cache";
        http.Response.Headers.ETag = $"\"{Convert.ToHexStringLower(entry.ContentHash.Span)}\"";
        http.Response.Headers.LastModified = DateTimeOffset.FromUnixTimeMilliseconds(entry.MtimeUnixMs).ToString("R", CultureInfo.InvariantCulture);
        http.Response.Headers["X-Content-Type-Options"] = "nosniff";
        if (HttpMethods.IsHead(http.Request.Method))
        {
            return;
        }

        try
        {
            await reader.CopyToAsync(token, first, entry.Size, http.Response.Body, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DropboxException or Grpc.Core.RpcException or IOException && !ct.IsCancellationRequested)
        {
            // Headers (and perhaps bytes) are out: cut the connection so the client sees a short body, not a whole one.
            Log.CopyFailed(loggers.CreateLogger(typeof(FileLinkEndpoints)), entry.Version, e.Message);
            http.Abort();
        }
    }

    /// <summary>
    /// The body of a refusal: one fixed sentence per status. The metadata node's message names the path, chunk ids or
    /// version numbers, which the link's holder must not learn; the name in the URL is all a link reveals.
    /// </summary>
    internal static string RefusalText(int status) => status switch
    {
        StatusCodes.Status403Forbidden => "This link is not valid; ask its owner for a new one.",
        StatusCodes.Status404NotFound => "The file of this link is no longer available.",
        StatusCodes.Status410Gone => "This link has expired; ask its owner for a new one.",
        StatusCodes.Status503ServiceUnavailable => "This file cannot be served right now; try again later.",
        _ => "This link could not be served; try again later.",
    };

    private static async Task RefuseAsync(HttpContext http, int status)
    {
        var message = RefusalText(status);
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        await http.Response.WriteAsync(message + "\n", http.RequestAborted).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2301, Level = LogLevel.Warning, Message = "File link: serving version {Version} stopped part-way: {Detail}")]
        public static partial void CopyFailed(ILogger logger, ulong version, string detail);
    }
}
