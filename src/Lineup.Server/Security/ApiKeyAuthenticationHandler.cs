using System.Text.Encodings.Web;
using Lineup.Hosting;
using Lineup.Server.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Lineup.Server.Security;

/// <summary>
/// <c>X-Api-Key: lk_…</c> (or <c>Authorization: Bearer lk_…</c>) for integrations. A request that carries a key is
/// judged by the key alone: a wrong, revoked or disabled user's key is a 401 even if a cookie came with it.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, LineupEngine engine)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";

    /// <summary>True when the request presents a key (so this scheme, not the cookie, decides).</summary>
    public static bool Presents(HttpRequest request) =>
        request.Headers.ContainsKey(HeaderName) ||
        request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var secret = Request.Headers[HeaderName].ToString();
        if (string.IsNullOrEmpty(secret) && Request.Headers.Authorization.ToString() is { } authorization &&
            authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            secret = authorization["Bearer ".Length..].Trim();
        }

        if (string.IsNullOrEmpty(secret))
        {
            return AuthenticateResult.NoResult();
        }

        var directory = new UserDirectory(engine.Users);
        if (await directory.AuthenticateKeyAsync(secret, Context.RequestAborted).ConfigureAwait(false) is not { } found)
        {
            return AuthenticateResult.Fail("The API key is not valid (unknown, revoked, or its user is disabled).");
        }

        return AuthenticateResult.Success(new AuthenticationTicket(LineupPrincipal.Create(found.User, SchemeName, "api-key"), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false);
        Response.Headers.WWWAuthenticate = "ApiKey";
        await Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, "Not authenticated",
            result.Failure?.Message ?? "Sign in, or send an API key in the X-Api-Key header.").ConfigureAwait(false);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden, "Not allowed", "This API key's user does not have the permission this endpoint needs.");
}
