using System.Text.Json;
using System.Text.Json.Serialization;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Api;
using Lineup.Server.Jobs;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

namespace Lineup.Server;

/// <summary>
/// The analyst server: the minimal API grouped per area (<see cref="Api"/>), cookie sign-in and API keys with an explicit
/// policy on every endpoint, the web UI from the assembly's embedded <c>wwwroot</c>, ingest jobs in the background.
/// Built the same way by <c>Program</c>, <c>lineup serve</c> and the tests.
/// </summary>
public static class LineupServer
{
    /// <summary>Builds the application; <paramref name="settings"/> override configuration (e.g. <c>Lineup:DataDirectory</c>).</summary>
    public static WebApplication Build(string[] args, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        // The same LINEUP__ environment variables as the command line (LINEUP__Lineup__Server__Urls=…).
        builder.Configuration.AddEnvironmentVariables("LINEUP__");
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        Configure(builder);
        return Configure(builder.Build());
    }

    private static void Configure(WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var server = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        server.Validate();
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(server.Urls);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = server.MaxUploadBytes;
        });

        services.AddLineup(builder.Configuration);
        services.AddOptions<ServerOptions>().Bind(builder.Configuration.GetSection(ServerOptions.Section)).Validate(o =>
        {
            o.Validate();
            return true;
        });

        services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Extensions["traceId"] = context.HttpContext.TraceIdentifier;
            if (context.ProblemDetails.Status == StatusCodes.Status415UnsupportedMediaType && context.ProblemDetails.Detail is null)
            {
                // Refused by routing before any handler ran: say what the endpoint takes and what came.
                var accepts = context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<IAcceptsMetadata>()?.ContentTypes;
                var sent = context.HttpContext.Request.ContentType ?? "no content type";
                context.ProblemDetails.Detail = accepts is { Count: > 0 }
                    ? $"This endpoint takes {string.Join(" or ", accepts)}, not '{sent}'."
                    : $"This endpoint does not take '{sent}': endpoints that receive photos or files take multipart/form-data, the others application/json.";
            }
        });
        services.AddExceptionHandler<ProblemMapping>();
        // Binding failures (malformed JSON, a missing body) reach ProblemMapping as BadHttpRequestException, with their message.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase)));

        var dataDirectory = Path.GetFullPath(builder.Configuration[$"{LineupOptions.Section}:{nameof(LineupOptions.DataDirectory)}"] ?? "./lineup-data");
        var protection = services.AddDataProtection().SetApplicationName("Lineup");
        if (!GeneratingApiDocument)
        {
            // Keys that sign cookies and anti-forgery tokens survive restarts (sessions do too) and stay with the data.
            protection.PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDirectory, "keys", "data-protection")));
        }

        services.AddAuthentication(Schemes.Default)
            .AddPolicyScheme(Schemes.Default, "Cookie or API key", o => o.ForwardDefaultSelector = context =>
                ApiKeyAuthenticationHandler.Presents(context.Request) ? ApiKeyAuthenticationHandler.SchemeName : CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(CookieAuthenticationDefaults.AuthenticationScheme, cookie =>
            {
                cookie.Cookie.Name = "lineup.auth";
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SameSite = SameSiteMode.Strict;
                cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                cookie.ExpireTimeSpan = server.SessionLifetime;
                cookie.SlidingExpiration = true;
                cookie.Events = new CookieAuthenticationEvents
                {
                    OnRedirectToLogin = context => Problems.WriteAsync(context.HttpContext, StatusCodes.Status401Unauthorized, "Not authenticated",
                        "Sign in (POST /api/auth/signin), or send an API key in the X-Api-Key header."),
                    OnRedirectToAccessDenied = context => Problems.WriteAsync(context.HttpContext, StatusCodes.Status403Forbidden, "Not allowed",
                        "Your role does not have the permission this endpoint needs."),
                    OnValidatePrincipal = ValidateSessionAsync,
                };
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);

        var authorization = services.AddAuthorizationBuilder()
            // An endpoint that forgets to name a policy is closed, not open.
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(Permissions.SignedIn, p => p.RequireAuthenticatedUser());
        foreach (var permission in Permissions.All)
        {
            authorization.AddPolicy(permission, p => p.RequireAuthenticatedUser().RequireClaim(Permissions.ClaimType, permission));
        }

        services.AddAntiforgery(o =>
        {
            o.HeaderName = RequestGuards.AntiforgeryHeader;
            o.Cookie.Name = "lineup.xsrf";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddLineupRateLimits(server);
        services.AddOpenApi("v1", openApi => openApi.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Lineup API";
            document.Info.Description =
                "Accountable face search. Sign in with a cookie (POST /api/auth/signin; unsafe requests then carry X-XSRF-TOKEN from " +
                "GET /api/auth/antiforgery) or send an API key in X-Api-Key. Errors are RFC 7807 ProblemDetails. Candidates are " +
                "investigative leads, not identifications.";
            return Task.CompletedTask;
        }));

        services.AddSingleton<IngestJobs>();
        if (!GeneratingApiDocument)
        {
            // The build runs the app to describe it; it must not open (or fetch) models and a catalog for that.
            services.AddHostedService(sp => sp.GetRequiredService<IngestJobs>());
            services.AddHostedService<EngineWarmUp>();
            services.AddHostedService<RetentionJob>();
            services.AddHostedService<ClusteringJob>();
        }
    }

    private static WebApplication Configure(WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSecureHeaders();

        var ui = new ManifestEmbeddedFileProvider(typeof(LineupServer).Assembly, "wwwroot");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = ui });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = ui });

        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        // After authorisation: an anonymous or unauthorised request is answered 401/403 before its token is looked at.
        app.UseAntiforgeryHeaderCheck();

        app.MapHealthApi();
        app.MapAuthApi();
        app.MapSearchApi();
        app.MapGalleryApi();
        app.MapIngestApi();
        app.MapAdminApi();
        app.MapErasureApi();
        app.MapCasesApi();
        app.MapReviewApi();
        app.MapRetentionApi();
        app.MapOptOutApi();
        app.MapReportsApi();
        app.MapNetworkApi();
        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapScalarApiReference("/scalar", o => o.WithTitle("Lineup API reference")).AllowAnonymous();
        return app;
    }

    /// <summary>
    /// Every request re-reads the user (one indexed row): a disabled user, a changed password or changed roles (a new
    /// security stamp) end every session at once instead of when the cookie expires.
    /// </summary>
    private static async Task ValidateSessionAsync(CookieValidatePrincipalContext context)
    {
        var engine = context.HttpContext.RequestServices.GetRequiredService<LineupEngine>();
        var id = context.Principal is { } principal ? LineupPrincipal.UserId(principal) : null;
        var user = id is { } known ? await engine.Users.GetUserAsync(known, context.HttpContext.RequestAborted).ConfigureAwait(false) : null;
        if (user is null || user.IsDisabled || user.SecurityStamp != context.Principal!.FindFirst(LineupPrincipal.StampClaim)?.Value)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A fresh installation has nobody to sign in as: the first start creates <c>admin</c> (roles admin and analyst) with a
    /// random password and returns it, once, for the operator to read and change. Null when users exist already.
    /// </summary>
    public static async Task<string?> EnsureFirstUserAsync(WebApplication app, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(app);
        var engine = app.Services.GetRequiredService<LineupEngine>();
        if (await engine.Users.CountUsersAsync(ct).ConfigureAwait(false) > 0)
        {
            return null;
        }

        var password = UserDirectory.GeneratePassword();
        await new UserDirectory(engine.Users).AddAsync("admin", "Administrator", [Role.Admin, Role.Analyst], password, ct).ConfigureAwait(false);
        return password;
    }

    /// <summary>The addresses Kestrel listens on, once started.</summary>
    public static IReadOnlyList<string> Addresses(WebApplication app) =>
        app.Urls.Count > 0 ? app.Urls.ToList() : [app.Services.GetRequiredService<IOptions<ServerOptions>>().Value.Urls];

    /// <summary>
    /// True while the build runs the app to write the OpenAPI document (GetDocument.Insider calls Main and reads the built
    /// host's services): nothing may then listen on a port, open models or write to a data directory.
    /// </summary>
    public static bool GeneratingApiDocument =>
        string.Equals(System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name, "GetDocument.Insider", StringComparison.Ordinal);

    private static class Schemes
    {
        public const string Default = "lineup";
    }

    /// <summary>Opens the engine (models, catalog, index) at start, so the first request does not wait and a broken setup fails fast.</summary>
    private sealed class EngineWarmUp(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.Run(() => services.GetRequiredService<LineupEngine>(), cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
