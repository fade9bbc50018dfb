using Lineup.Server.Security;

namespace Lineup.Server.Tests;

public sealed partial class AuthorizationMatrixTests
{
    /// <summary>The optout endpoints' rows of the authorisation table.</summary>
    private static Dictionary<string, Row> OptOutRows() => new(StringComparer.Ordinal)
    {
        ["GET /api/optouts"] = new(Permissions.OptOut, _ => Get("/api/optouts")),
        ["GET /api/optouts/{id:long}"] = new(Permissions.OptOut, _ => Get("/api/optouts/999999")),

        // Allowed callers get 422 (the synthetic photo has no face), so that nothing is recorded.
        ["POST /api/optouts"] = new(Permissions.OptOut, c => Http.Post("/api/optouts", Http.Form("photos", c.Photo, fields: [("reference", "M-OPTOUT")]))),
    };
}
