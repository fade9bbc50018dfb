using System.Security.Claims;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Server.Jobs;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>
/// Retention: the time-to-live of probe photos, candidate lists and audit events (each change audited), and a sweep on
/// demand besides the background one (<see cref="RetentionJob"/>). Admins only (<see cref="Permissions.Retention"/>).
/// </summary>
public static class RetentionApi
{
    public static RouteGroupBuilder MapRetentionApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api").WithTags("Retention").RequireAuthorization(Permissions.Retention);

        group.MapGet("/retention", async (LineupEngine engine, IConfiguration configuration, CancellationToken ct) =>
        {
            var settings = await engine.Retention().GetRetentionAsync(ct).ConfigureAwait(false);
            var held = (await engine.Cases.ListCasesAsync(null, ct).ConfigureAwait(false)).Where(c => c.LegalHold).Select(c => c.Number).Order().ToList();
            return TypedResults.Ok(new RetentionDto(
                settings.Select(RetentionSettingDto.From).ToList(), held, RetentionJob.ReadInterval(configuration)?.TotalHours));
        })
            .WithName("GetRetention")
            .WithSummary("The time-to-live of each data class, the cases on legal hold and how often the server sweeps");

        group.MapPut("/retention/{dataClass}", async Task<Results<Ok<RetentionSettingDto>, ProblemHttpResult>> (
            string dataClass, RetentionChangeRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
        {
            if (DataClasses.Find(dataClass) is not { } known)
            {
                return Problems.NotFound($"There is no data class '{dataClass}'; the data classes are {string.Join(", ", DataClasses.All)}.");
            }

            if (request.TtlDays is not { } days)
            {
                return Problems.BadRequest("Give ttlDays, the time-to-live in days.");
            }

            var set = await engine.Retention().SetRetentionAsync(known, days, LineupPrincipal.Name(user), ct).ConfigureAwait(false);
            return TypedResults.Ok(RetentionSettingDto.From(set));
        })
            .WithName("SetRetention")
            .WithSummary("Set a data class's time-to-live in days (audit events must be kept at least as long as candidate lists)");

        group.MapPost("/retention/sweep", async (ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            TypedResults.Ok(SweepReportDto.From(await RetentionSweeper.SweepAsync(engine, LineupPrincipal.Name(user), ct).ConfigureAwait(false))))
            .WithName("SweepRetention")
            .WithSummary("Remove what has expired now (legal holds respected; receipt in the audit log) and compact the files");

        return group;
    }
}
