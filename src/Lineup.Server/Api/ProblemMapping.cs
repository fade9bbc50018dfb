using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Core.Network;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Server.Jobs;
using Microsoft.AspNetCore.Diagnostics;

namespace Lineup.Server.Api;

/// <summary>
/// Exceptions mapped to ProblemDetails once, at the edge (STYLE 11): typed failures become their status with the
/// message written for people; anything else is a 500 with a trace id and no detail (the log has it, the client does not).
/// </summary>
public sealed partial class ProblemMapping(ILogger<ProblemMapping> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail, extensions) = exception switch
        {
            ApiInputException e => (e.Status, e.Title, e.Message, null),
            IngestRequestException e => (e.Status, "Source refused", e.Message, null),
            ProbeQualityException e => (StatusCodes.Status422UnprocessableEntity, "Probe quality under the floor", e.Message,
                new Dictionary<string, object?>
                {
                    ["searchId"] = e.SearchId,
                    ["floor"] = e.Floor,
                    ["face"] = ProbeFaceDto.From(e.Face),
                }),
            SearchRefusedException e => (StatusCodes.Status403Forbidden, "Search refused", e.Message,
                new Dictionary<string, object?>
                {
                    ["searchId"] = e.SearchId,
                    ["refusal"] = e.Code,
                }),
            ReviewRefusedException e => (StatusCodes.Status409Conflict, "Refused by the two-person rule", e.Message,
                new Dictionary<string, object?> { ["code"] = e.Code }),
            NoFaceException e => (StatusCodes.Status422UnprocessableEntity, "No face in the probe", e.Message, null),
            ImageRejectedException { Reason: ImageRejection.TooManyBytes } e => (StatusCodes.Status413PayloadTooLarge, "Photo too large", e.Message, null),
            ImageRejectedException e => (StatusCodes.Status422UnprocessableEntity, "Photo refused", e.Message, null),
            BadHttpRequestException e => (e.StatusCode, "The request is not valid", e.Message, null),
            NetworkRefusedException e => (StatusCodes.Status403Forbidden, "Network query refused", e.Message,
                new Dictionary<string, object?> { ["refusal"] = e.Code }),
            NetworkNotFoundException e => (StatusCodes.Status404NotFound, "Not found", e.Message, null),
            CatalogException e => (StatusCodes.Status409Conflict, "Conflict", e.Message, null),
            FormatException or ArgumentException => (StatusCodes.Status400BadRequest, "The request is not valid", exception.Message, null),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, "Client closed the request", null, null),
            _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "The server could not complete the request; the operator's log has the details.", null),
        };

        if (status >= 500)
        {
            LogUnexpected(logger, exception, context.Request.Method, context.Request.Path);
        }

        await Problems.WriteAsync(context, status, title, detail, extensions as IDictionary<string, object?>).ConfigureAwait(false);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unexpected error in {Method} {Path}")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string method, string path);
}
