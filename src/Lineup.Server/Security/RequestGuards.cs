using Lineup.Server.Api;
using Microsoft.AspNetCore.Antiforgery;

namespace Lineup.Server.Security;

/// <summary>Middleware that every request passes: secure response headers and the anti-forgery check.</summary>
public static class RequestGuards
{
    public const string AntiforgeryHeader = "X-XSRF-TOKEN";

    /// <summary>
    /// The UI loads only its own scripts, styles and images (and blob: URLs of the probe the analyst picked); nothing
    /// may frame it. The API reference page (Scalar) needs inline script and style, so it alone gets them.
    /// </summary>
    private const string ContentSecurityPolicy =
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    private const string ReferencePagePolicy =
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; " +
        "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    public static IApplicationBuilder UseSecureHeaders(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var headers = context.Response.Headers;
        context.Response.OnStarting(() =>
        {
            headers.ContentSecurityPolicy = context.Request.Path.StartsWithSegments("/scalar", StringComparison.OrdinalIgnoreCase)
                ? ReferencePagePolicy
                : ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            if (context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
            {
                // Search results and gallery pictures are personal data: no shared or browser cache keeps them.
                headers.CacheControl = "no-store";
            }

            if (context.Request.IsHttps)
            {
                headers.StrictTransportSecurity = "max-age=31536000";
            }

            return Task.CompletedTask;
        });
        await next(context).ConfigureAwait(false);
    });

    /// <summary>
    /// Cookie-borne requests that change something must carry the anti-forgery token in <see cref="AntiforgeryHeader"/>
    /// (the double-submit pattern of ASP.NET Core's <see cref="IAntiforgery"/>): a page on another site can make the
    /// browser send the cookie, but cannot read the token. Requests with an API key carry no ambient credential and
    /// are exempt. Sign-in itself is checked too (login CSRF).
    /// </summary>
    public static IApplicationBuilder UseAntiforgeryHeaderCheck(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var method = context.Request.Method;
        var unsafeMethod = !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method));
        if (unsafeMethod && context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) && !ApiKeyAuthenticationHandler.Presents(context.Request))
        {
            var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
            if (!context.Request.Headers.ContainsKey(AntiforgeryHeader))
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Anti-forgery token missing",
                    $"Send the token from GET /api/auth/antiforgery in the {AntiforgeryHeader} header (or use an API key).").ConfigureAwait(false);
                return;
            }

            try
            {
                await antiforgery.ValidateRequestAsync(context).ConfigureAwait(false);
            }
            catch (AntiforgeryValidationException)
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "Anti-forgery token invalid",
                    "The token does not match this session; fetch a new one from GET /api/auth/antiforgery (tokens change at sign-in).").ConfigureAwait(false);
                return;
            }
        }

        await next(context).ConfigureAwait(false);
    });
}
