using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using Lineup.Hosting;
using Lineup.Server.Security;
using Lineup.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>
/// Disclosure reports of a case (JSON and PDF, each audited with its SHA-256), the supervisor view of activity and
/// flags, and the audit log's verification status.
/// </summary>
public static class ReportsApi
{
    /// <summary>The SHA-256 (hex) of a report's bytes, as recorded in the audit log.</summary>
    public const string Sha256Header = "X-Report-Sha256";

    /// <summary>The sequence number of the audit event that records the report.</summary>
    public const string AuditSeqHeader = "X-Audit-Seq";

    /// <summary>How long an audit verification is reused: it reads every event, so it is not run per request.</summary>
    public static readonly TimeSpan AuditStatusMaxAge = TimeSpan.FromMinutes(1);

    private static readonly ConditionalWeakTable<LineupEngine, AuditStatusCache> s_auditStatus = [];

    public static RouteGroupBuilder MapReportsApi(this IEndpointRouteBuilder routes)
    {
        var reports = routes.MapGroup("/api").WithTags("Reports").RequireAuthorization(Permissions.Reports);

        reports.MapGet("/cases/{id:long}/report.json", (long id, ClaimsPrincipal user, HttpContext context, LineupEngine engine, CancellationToken ct) =>
            ReportAsync(id, DisclosureFormat.Json, user, context, engine, ct))
            .Produces<DisclosureReport>(StatusCodes.Status200OK, "application/json")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetDisclosureReportJson")
            .WithSummary("The disclosure report of a case as JSON (every search, refused ones included, with candidates and decisions); its SHA-256 is audited");

        reports.MapGet("/cases/{id:long}/report.pdf", (long id, ClaimsPrincipal user, HttpContext context, LineupEngine engine, CancellationToken ct) =>
            ReportAsync(id, DisclosureFormat.Pdf, user, context, engine, ct))
            .Produces(StatusCodes.Status200OK, contentType: "application/pdf")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetDisclosureReportPdf")
            .WithSummary("The disclosure report of a case as PDF; its SHA-256 is audited");

        var oversight = routes.MapGroup("/api").WithTags("Oversight").RequireAuthorization(Permissions.Oversight);

        oversight.MapGet("/oversight/activity", async Task<Ok<ActivityDto>> (
            DateTimeOffset? from, DateTimeOffset? to, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
        {
            var activity = await OversightActivity.ComputeAsync(engine, from, to, ct).ConfigureAwait(false);
            await OversightActivity.AuditViewAsync(engine.Audit, LineupPrincipal.Name(user), activity, ct).ConfigureAwait(false);
            return TypedResults.Ok(ActivityDto.Of(activity));
        })
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithName("GetOversightActivity")
            .WithSummary("Searches per user, case and day by outcome, and flags (volume spikes, unrelated probes in one case, attempts after an authorisation expired, searches outside working hours); default the last 30 days");

        oversight.MapGet("/audit/status", async Task<Ok<AuditStatusDto>> (LineupEngine engine, CancellationToken ct) =>
            TypedResults.Ok(await s_auditStatus.GetValue(engine, _ => new AuditStatusCache()).GetAsync(engine, ct).ConfigureAwait(false)))
            .WithName("GetAuditStatus")
            .WithSummary("The audit log verified: events, head root, checkpoints, intact or the first bad event; recomputed at most once a minute");

        return reports;
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> ReportAsync(
        long id, DisclosureFormat format, ClaimsPrincipal user, HttpContext context, LineupEngine engine, CancellationToken ct)
    {
        if (await CasesApi.VisibleCaseAsync(id, user, engine, ct).ConfigureAwait(false) is not { } found)
        {
            return Problems.NotFound($"There is no case {id} you may see.");
        }

        var report = await DisclosureReport.BuildAsync(engine, found, LineupPrincipal.Name(user), ct).ConfigureAwait(false);
        var export = await report.ExportAsync(engine.Audit, format, ct).ConfigureAwait(false);
        var headers = context.Response.Headers;
        headers[Sha256Header] = export.Sha256;
        headers[AuditSeqHeader] = export.AuditSeq.ToString(CultureInfo.InvariantCulture);
        // RFC 9530: the digest of the representation, for clients that check it generically.
        headers["Repr-Digest"] = $"sha-256=:{Convert.ToBase64String(Convert.FromHexString(export.Sha256))}:";
        headers.CacheControl = "no-store";
        return TypedResults.File(export.Content, export.ContentType, export.FileName);
    }

    /// <summary>
    /// One verification shared by every caller for <see cref="AuditStatusMaxAge"/>: requests that arrive while it runs
    /// wait for the same run instead of starting their own.
    /// </summary>
    private sealed class AuditStatusCache
    {
        private readonly Lock _gate = new();
        private Task<AuditStatusDto>? _current;

        public Task<AuditStatusDto> GetAsync(LineupEngine engine, CancellationToken ct)
        {
            Task<AuditStatusDto> current;
            lock (_gate)
            {
                var now = engine.Options.Clock.GetUtcNow();
                if (_current is null || _current.IsFaulted || _current.IsCanceled
                    || (_current.IsCompletedSuccessfully && now - _current.Result.ComputedAt >= AuditStatusMaxAge))
                {
                    // Not tied to one request's token: other callers wait for this run too.
                    _current = Task.Run(() => ComputeAsync(engine));
                }

                current = _current;
            }

            return current.WaitAsync(ct);
        }

        private static async Task<AuditStatusDto> ComputeAsync(LineupEngine engine)
        {
            var computedAt = engine.Options.Clock.GetUtcNow();
            var key = AuditPublicKey.LoadFromDataDirectory(engine.Options.FullDataDirectory);
            var verification = await engine.Audit.VerifyAsync(key, null, CancellationToken.None).ConfigureAwait(false);
            return AuditStatusDto.From(verification, key is not null, computedAt, AuditStatusMaxAge);
        }
    }
}
