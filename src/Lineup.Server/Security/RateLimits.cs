using System.Globalization;
using System.Threading.RateLimiting;
using Lineup.Server.Api;

namespace Lineup.Server.Security;

/// <summary>Per-user search budgets and per-address sign-in budgets; a refusal is a 429 ProblemDetails with Retry-After.</summary>
public static class RateLimits
{
    public const string Search = "search";
    public const string SignIn = "signin";

    public static IServiceCollection AddLineupRateLimits(this IServiceCollection services, ServerOptions options) =>
        services.AddRateLimiter(limiter =>
        {
            // Searches are partitioned by the authenticated user (a key's user included), so one analyst cannot use up
            // another's budget; the budget refills evenly over the minute rather than all at once.
            limiter.AddPolicy(Search, context => RateLimitPartition.GetTokenBucketLimiter(
                "user:" + LineupPrincipal.Name(context.User),
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.SearchesPerMinute,
                    TokensPerPeriod = Math.Max(1, options.SearchesPerMinute / 12),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(5),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            limiter.AddPolicy(SignIn, context => RateLimitPartition.GetFixedWindowLimiter(
                "ip:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown"),
                _ => new FixedWindowRateLimiterOptions { PermitLimit = options.SignInsPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            limiter.OnRejected = async (rejected, ct) =>
            {
                var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(5);
                var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
                rejected.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await Problems.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests, "Too many requests",
                    $"This budget is used up; try again in {seconds} s.",
                    new Dictionary<string, object?> { ["retryAfterSeconds"] = seconds }).ConfigureAwait(false);
            };
        });
}
