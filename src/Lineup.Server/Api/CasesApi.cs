using System.Security.Claims;
using Lineup.Core.Oversight;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>
/// Cases (every search belongs to one), their assignments (need-to-know) and users' clearances. Users see the cases they
/// are assigned to; holders of <see cref="Permissions.CasesManage"/> or <see cref="Permissions.Oversight"/> see all.
/// </summary>
public static class CasesApi
{
    public static RouteGroupBuilder MapCasesApi(this IEndpointRouteBuilder routes)
    {
        var read = routes.MapGroup("/api").WithTags("Cases").RequireAuthorization(Permissions.CasesRead);

        read.MapGet("/cases", async (ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
        {
            var cases = await engine.Cases.ListCasesAsync(SeesAll(user) ? null : LineupPrincipal.Name(user), ct).ConfigureAwait(false);
            var now = engine.Options.Clock.GetUtcNow();
            return TypedResults.Ok(cases.Select(c => CaseDto.From(c, now)).ToList());
        })
            .WithName("ListCases")
            .WithSummary("The cases the caller is assigned to (every case for supervisors, auditors and admins), newest first");

        read.MapGet("/cases/{id:long}", async Task<Results<Ok<CaseDto>, ProblemHttpResult>> (long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            await VisibleCaseAsync(id, user, engine, ct).ConfigureAwait(false) is { } found
                ? TypedResults.Ok(CaseDto.From(found, engine.Options.Clock.GetUtcNow()))
                : Problems.NotFound($"There is no case {id} you may see."))
            .WithName("GetCase")
            .WithSummary("One case with its authorisation and assigned users");

        read.MapGet("/cases/{id:long}/searches", async Task<Results<Ok<List<SearchRecordDto>>, ProblemHttpResult>> (
            long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
        {
            if (await VisibleCaseAsync(id, user, engine, ct).ConfigureAwait(false) is not { } found)
            {
                return Problems.NotFound($"There is no case {id} you may see.");
            }

            var searches = await engine.SearchLog.ListCaseSearchesAsync(found.Id, ct).ConfigureAwait(false);
            return TypedResults.Ok(searches.Select(SearchRecordDto.From).ToList());
        })
            .WithName("ListCaseSearches")
            .WithSummary("Every search of a case, refused ones included, oldest first");

        read.MapGet("/intake", (LineupEngine engine) => TypedResults.Ok(new IntakeRulesDto(
            engine.Options.Oversight.Policy.Offences,
            [
                .. ProbeSources.Accepted.Select(s => new ProbeSourceDto(s, ProbeSources.Describe(s), true)),
                .. ProbeSources.Refused.Select(s => new ProbeSourceDto(s, ProbeSources.Describe(s), false)),
            ])))
            .WithName("GetIntakeRules")
            .WithSummary("The offences cases may be opened for and the probe sources a search may attest");

        var manage = routes.MapGroup("/api").WithTags("Cases").RequireAuthorization(Permissions.CasesManage);

        manage.MapPost("/cases", async Task<Results<Created<CaseDto>, ProblemHttpResult>> (NewCaseRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
        {
            var offence = engine.Options.Oversight.Policy.FindOffence(request.Offence)
                ?? throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid",
                    $"'{request.Offence}' is not on the list of offences face search may be used for ({string.Join(", ", engine.Options.Oversight.Policy.Offences)}).");
            var now = engine.Options.Clock.GetUtcNow();
            if (request.AuthorisedUntil <= now)
            {
                throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", "The authorisation must expire in the future.");
            }

            var opened = await engine.Cases.OpenCaseAsync(
                new NewCase(request.Number ?? "", offence, request.Purpose ?? "", request.AuthorisationReference ?? "", request.AuthorisedUntil),
                LineupPrincipal.Name(user), ct).ConfigureAwait(false);
            return TypedResults.Created($"/api/cases/{opened.Id}", CaseDto.From(opened, now));
        })
            .WithName("OpenCase")
            .WithSummary("Open a case: number, offence (from the allowlist), purpose, authorisation reference and expiry");

        manage.MapGet("/cases/assignable-users", async (LineupEngine engine, CancellationToken ct) =>
        {
            var users = await engine.Users.ListUsersAsync(ct).ConfigureAwait(false);
            var now = engine.Options.Clock.GetUtcNow();
            return TypedResults.Ok(users.Where(u => !u.IsDisabled)
                .OrderBy(u => u.Name, StringComparer.OrdinalIgnoreCase)
                .Select(u => AssignableUserDto.From(u, now)).ToList());
        })
            .WithName("ListAssignableUsers")
            .WithSummary("Every enabled user a supervisor may assign to a case, with roles and whether their clearance is current");

        manage.MapPost("/cases/{id:long}/assign", (long id, AssignmentRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            ChangeAsync(id, engine, ct, number => engine.Cases.AssignAsync(number, request.User ?? "", LineupPrincipal.Name(user), ct)))
            .WithName("AssignCase")
            .WithSummary("Assign a user to the case (need-to-know)");

        manage.MapPost("/cases/{id:long}/unassign", (long id, AssignmentRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            ChangeAsync(id, engine, ct, number => engine.Cases.UnassignAsync(number, request.User ?? "", LineupPrincipal.Name(user), ct)))
            .WithName("UnassignCase")
            .WithSummary("Remove a user from the case");

        manage.MapPost("/cases/{id:long}/close", (long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            ChangeAsync(id, engine, ct, number => engine.Cases.CloseCaseAsync(number, LineupPrincipal.Name(user), ct)))
            .WithName("CloseCase")
            .WithSummary("Close the case: no more searches");

        manage.MapPost("/cases/{id:long}/reauthorise", (long id, ReauthoriseRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            ChangeAsync(id, engine, ct, number => engine.Cases.ReauthoriseAsync(number, request.Reference ?? "", request.Until, LineupPrincipal.Name(user), ct)))
            .WithName("ReauthoriseCase")
            .WithSummary("Record a renewed authorisation and its expiry");

        manage.MapPost("/cases/{id:long}/hold", (long id, LegalHoldRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            ChangeAsync(id, engine, ct, number => engine.Cases.SetLegalHoldAsync(number, request.Hold, request.Reason ?? "", LineupPrincipal.Name(user), ct)))
            .WithName("SetLegalHold")
            .WithSummary("Set or lift the legal hold: nothing of a held case expires");

        var admin = routes.MapGroup("/api").WithTags("Administration").RequireAuthorization(Permissions.Admin);
        admin.MapPost("/users/{name}/clearance", async Task<Results<Ok<UserDto>, ProblemHttpResult>> (
            string name, ClearanceRequest request, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct) =>
            await engine.Users.FindUserAsync(name, ct).ConfigureAwait(false) is null
                ? Problems.NotFound($"There is no user '{name}'.")
                : TypedResults.Ok(UserDto.From(await engine.Cases.SetClearanceAsync(
                    name, request.NdaUntil, request.TrainingUntil, LineupPrincipal.Name(user), ct).ConfigureAwait(false))))
            .WithName("SetClearance")
            .WithSummary("Record when a user's confidentiality agreement and face-search training expire (needed to search and confirm)");

        return read;
    }

    /// <summary>Whether the caller reads every case rather than only those assigned to them.</summary>
    public static bool SeesAll(ClaimsPrincipal user) =>
        LineupPrincipal.Has(user, Permissions.CasesManage) || LineupPrincipal.Has(user, Permissions.Oversight);

    /// <summary>The case if the caller may see it (assigned, or sees all); null otherwise, so that a case's existence does not leak.</summary>
    public static async Task<CaseRecord?> VisibleCaseAsync(long id, ClaimsPrincipal user, LineupEngine engine, CancellationToken ct)
    {
        var found = await engine.Cases.GetCaseAsync(id, ct).ConfigureAwait(false);
        return found is not null && (SeesAll(user) || found.IsAssigned(LineupPrincipal.Name(user))) ? found : null;
    }

    private static async Task<Results<Ok<CaseDto>, ProblemHttpResult>> ChangeAsync(
        long id, LineupEngine engine, CancellationToken ct, Func<string, Task<CaseRecord>> change)
    {
        if (await engine.Cases.GetCaseAsync(id, ct).ConfigureAwait(false) is not { } found)
        {
            return Problems.NotFound($"There is no case {id}.");
        }

        var changed = await change(found.Number).ConfigureAwait(false);
        return TypedResults.Ok(CaseDto.From(changed, engine.Options.Clock.GetUtcNow()));
    }
}
