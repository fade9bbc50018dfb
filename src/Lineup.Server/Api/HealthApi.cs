using Lineup.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Lineup.Server.Api;

/// <summary>Liveness and readiness for load balancers and operators: open to anyone, and it says nothing about people.</summary>
public static class HealthApi
{
    public static RouteHandlerBuilder MapHealthApi(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/health", async Task<Results<Ok<HealthDto>, JsonHttpResult<HealthDto>>> (IServiceProvider services, CancellationToken ct) =>
        {
            var checks = new Dictionary<string, string>();
            var healthy = true;
            try
            {
                var engine = services.GetRequiredService<LineupEngine>();
                checks["models"] = "ok (" + engine.ModelId + ")";
                var stats = await engine.Catalog.GetStatsAsync(ct).ConfigureAwait(false);
                checks["catalog"] = $"ok (schema {stats.SchemaVersion}, {stats.Faces} faces)";
                var indexed = engine.Index.Count;
                checks["index"] = indexed == stats.Faces ? $"ok ({indexed} faces)" : $"catching up ({indexed} of {stats.Faces} faces)";
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                healthy = false;
                checks["engine"] = "unavailable: " + e.GetType().Name;
            }

            var body = new HealthDto(healthy ? "healthy" : "unhealthy", checks);
            return healthy ? TypedResults.Ok(body) : TypedResults.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable);
        })
            .AllowAnonymous()
            .WithTags("Health")
            .WithName("GetHealth")
            .WithSummary("Whether the models, catalog and index are available");
}
