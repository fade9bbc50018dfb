using Lineup.Server.Security;

namespace Lineup.Server.Tests;

public sealed partial class AuthorizationMatrixTests
{
    /// <summary>The retention endpoints' rows of the authorisation table.</summary>
    private static Dictionary<string, Row> RetentionRows() => new(StringComparer.Ordinal)
    {
        ["GET /api/retention"] = new(Permissions.Retention, _ => Get("/api/retention")),
        // The default value: an allowed caller changes nothing another row or test depends on.
        ["PUT /api/retention/{dataClass}"] = new(Permissions.Retention, _ => new(HttpMethod.Put, "/api/retention/probe_images")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { ttlDays = 90 }),
        }),
        ["POST /api/retention/sweep"] = new(Permissions.Retention, _ => Http.Post("/api/retention/sweep")),
    };
}
