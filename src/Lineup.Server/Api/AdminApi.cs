using System.Security.Claims;
using Lineup.Core.Audit;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>Administration (users, API keys, collections) and the record of searches for supervisors and auditors.</summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder routes)
    {
        var admin = routes.MapGroup("/api").WithTags("Administration").RequireAuthorization(Permissions.Admin);

        admin.MapGet("/users", async (LineupEngine engine, CancellationToken ct) =>
            TypedResults.Ok((await engine.Users.ListUsersAsync(ct).ConfigureAwait(false)).Select(UserDto.From).ToList()))
            .WithName("ListUsers")
            .WithSummary("Every user with their roles");

        admin.MapPost("/users", async Task<Results<Created<UserDto>, ProblemHttpResult>> (NewUserRequest request, ClaimsPrincipal caller, LineupEngine engine, CancellationToken ct) =>
        {
            var roles = ParseRoles(request.Roles);
            var user = await new UserDirectory(engine.Users.ActingAs(LineupPrincipal.Name(caller))).AddAsync(request.Name, request.DisplayName, roles, request.Password, ct).ConfigureAwait(false);
            return TypedResults.Created($"/api/users/{Uri.EscapeDataString(user.Name)}", UserDto.From(user));
        })
            .WithName("AddUser")
            .WithSummary("Add a user with roles and a password (at least 12 characters)");

        admin.MapPost("/users/{name}/disable", async Task<Results<Ok<UserDto>, ProblemHttpResult>> (string name, ClaimsPrincipal caller, LineupEngine engine, CancellationToken ct) =>
            await engine.Users.FindUserAsync(name, ct).ConfigureAwait(false) is null
                ? Problems.NotFound($"There is no user '{name}'.")
                : TypedResults.Ok(UserDto.From(await engine.Users.ActingAs(LineupPrincipal.Name(caller)).DisableUserAsync(name, ct).ConfigureAwait(false))))
            .WithName("DisableUser")
            .WithSummary("Disable a user: their sessions and API keys stop working at once");

        admin.MapPost("/users/{name}/api-keys", async Task<Results<Created<ApiKeyDto>, ProblemHttpResult>> (
            string name, NewApiKeyRequest request, ClaimsPrincipal caller, LineupEngine engine, CancellationToken ct) =>
        {
            if (await engine.Users.FindUserAsync(name, ct).ConfigureAwait(false) is null)
            {
                return Problems.NotFound($"There is no user '{name}'.");
            }

            var (key, secret) = await new UserDirectory(engine.Users.ActingAs(LineupPrincipal.Name(caller))).CreateApiKeyAsync(name, request.Name, ct).ConfigureAwait(false);
            return TypedResults.Created($"/api/users/{Uri.EscapeDataString(name)}", new ApiKeyDto(key.Id, key.Name, key.Prefix, key.CreatedAt, secret));
        })
            .WithName("AddApiKey")
            .WithSummary("Create an API key for a user; the key is in this answer only");

        admin.MapPost("/collections", async (NewCollectionRequest request, ClaimsPrincipal caller, LineupEngine engine, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(request.Name) || string.IsNullOrWhiteSpace(request.LawfulBasis))
            {
                throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", "A collection needs a name and a lawful basis.");
            }

            var collection = await engine.Catalog.EnsureCollectionAsync(request.Name.Trim(), request.LawfulBasis.Trim(), request.Jurisdiction, ct).ConfigureAwait(false);
            await engine.Audit.AppendAsync(new NewAuditEvent(
                LineupPrincipal.Name(caller), AuditActions.Admin, $"collection:{collection.Id}",
                AuditDetails.Empty.With("change", "collection.ensure").With("lawful_basis", Truncate(collection.LawfulBasis))), ct).ConfigureAwait(false);
            return TypedResults.Created($"/api/collections/{collection.Id}", CollectionDto.From(collection));
        })
            .WithName("AddCollection")
            .WithSummary("Create a collection with its lawful basis and jurisdiction (an existing one with the same settings is returned)");

        var oversight = routes.MapGroup("/api").WithTags("Oversight").RequireAuthorization(Permissions.SearchesRead);
        oversight.MapGet("/searches", async (LineupEngine engine, CancellationToken ct, int? limit) =>
        {
            if (limit is < 1 or > 10_000)
            {
                throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", "limit must be from 1 to 10000.");
            }

            return TypedResults.Ok((await engine.SearchLog.ListSearchesAsync(limit ?? 100, ct).ConfigureAwait(false)).Select(SearchRecordDto.From).ToList());
        })
            .WithName("ListSearches")
            .WithSummary("The record of searches, newest first: who, when, the probe's hash, quality, parameters and outcome");

        return admin;
    }

    private static string Truncate(string text) => text.Length <= AuditDetails.MaxTextLength ? text : text[..AuditDetails.MaxTextLength];

    private static List<Role> ParseRoles(IReadOnlyList<string>? names)
    {
        if (names is null || names.Count == 0)
        {
            throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid", "Give at least one role (analyst, reviewer, supervisor, auditor, admin).");
        }

        return names.Select(n => Roles.TryParse(n, out var role)
            ? role
            : throw new ApiInputException(StatusCodes.Status400BadRequest, "The request is not valid",
                $"'{n}' is not a role (analyst, reviewer, supervisor, auditor, admin).")).ToList();
    }
}
