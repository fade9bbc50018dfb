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
                // Each dependency separately (catalog, every index shard with its replica, the ingest queue), so an
                // operator sees which one failed. An index still catching up with the catalog is healthy.
                var engine = services.GetRequiredService<LineupEngine>();
                var report = await engine.GetClusterStatusAsync(topology: false, ct).ConfigureAwait(false);
                checks["backend"] = report.Backend;
                foreach (var dependency in report.Dependencies)
                {
                    checks[dependency.Name] = dependency.Name == "index" && !dependency.Healthy && report.IndexedFaces is not null
                        ? "catching up (" + dependency.Detail + ")"
                        : (dependency.Healthy ? "ok (" : "failing (") + dependency.Detail + ")";
                    healthy &= dependency.Healthy || (dependency.Name == "index" && report.IndexedFaces is not null);
                }
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
            .WithSummary("Whether the models, the catalog, every index shard and the ingest queue are available");
}
