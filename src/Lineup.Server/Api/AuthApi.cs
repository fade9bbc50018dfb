using Lineup.Core.Audit;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>Sign-in for the web UI (cookie), the anti-forgery token, and who the caller is.</summary>
public static class AuthApi
{
    public static RouteGroupBuilder MapAuthApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/auth").WithTags("Sign-in");

        group.MapGet("/antiforgery", (HttpContext context, IAntiforgery antiforgery) =>
        {
            var tokens = antiforgery.GetAndStoreTokens(context);
            return TypedResults.Ok(new AntiforgeryDto(RequestGuards.AntiforgeryHeader, tokens.RequestToken!));
        })
            .AllowAnonymous()
            .WithName("GetAntiforgeryToken")
            .WithSummary("The anti-forgery token to send in X-XSRF-TOKEN with every cookie-authenticated POST (fetch a new one after sign-in)");

        group.MapPost("/signin", SignInAsync)
            .AllowAnonymous()
            .RequireRateLimiting(RateLimits.SignIn)
            .WithName("SignIn")
            .WithSummary("Sign in with a user name and password; sets the session cookie");

        group.MapPost("/signout", async Task<NoContent> (HttpContext context, LineupEngine engine) =>
        {
            // The cookie is a bearer token: deleting it in this browser leaves any copy valid until it expires. A new
            // security stamp ends every session of the user, copies included (sign-out everywhere); API keys are unaffected.
            if (context.User.FindFirst(LineupPrincipal.MethodClaim)?.Value == "password")
            {
                var name = LineupPrincipal.Name(context.User);
                await engine.Users.ActingAs(name).RenewSecurityStampAsync(name, context.RequestAborted).ConfigureAwait(false);
            }

            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
            return TypedResults.NoContent();
        })
            .RequireAuthorization(Permissions.SignedIn)
            .WithName("SignOut")
            .WithSummary("End the session, and every other session of this user (their cookies stop working at once)");

        group.MapGet("/me", async Task<Results<Ok<MeDto>, ProblemHttpResult>> (HttpContext context, LineupEngine engine) =>
        {
            var id = LineupPrincipal.UserId(context.User);
            var user = id is { } known ? await engine.Users.GetUserAsync(known, context.RequestAborted).ConfigureAwait(false) : null;
            return user is null ? Problems.Of(StatusCodes.Status401Unauthorized, "Not authenticated") : TypedResults.Ok(MeDto.From(user));
        })
            .RequireAuthorization(Permissions.SignedIn)
            .WithName("GetMe")
            .WithSummary("The signed-in user, their roles and permissions");

        return group;
    }

    private static async Task<Results<Ok<MeDto>, ProblemHttpResult>> SignInAsync(SignInRequest request, HttpContext context, LineupEngine engine)
    {
        if (string.IsNullOrWhiteSpace(request.UserName) || string.IsNullOrEmpty(request.Password))
        {
            return Problems.BadRequest("Give a user name and a password.");
        }

        var name = request.UserName.Trim();
        var user = await new UserDirectory(engine.Users).SignInAsync(name, request.Password, context.RequestAborted).ConfigureAwait(false);

        // Failures are audited too (a run of them is an attack); a name that is not a valid user name is not copied
        // into the log, which keeps whatever was typed (a password in the wrong box) out of it.
        var known = UserNames.IsValid(name) ? name : "(not a user name)";
        await engine.Audit.AppendAsync(new NewAuditEvent(
            user?.Name ?? "anonymous", AuditActions.SignIn, $"user:{known}",
            AuditDetails.Empty.With("outcome", user is null ? "failed" : "success").With("method", "password")), context.RequestAborted).ConfigureAwait(false);
        if (user is null)
        {
            // One answer for an unknown name, a wrong password and a disabled account: no account enumeration.
            return Problems.Of(StatusCodes.Status401Unauthorized, "Sign-in failed", "The user name or password is wrong, or the account is disabled.");
        }

        var principal = LineupPrincipal.Create(user, CookieAuthenticationDefaults.AuthenticationScheme, "password");
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal).ConfigureAwait(false);
        return TypedResults.Ok(MeDto.From(user));
    }
}
