using Lineup.Server.Security;

namespace Lineup.Server.Tests;

public sealed partial class AuthorizationMatrixTests
{
    /// <summary>The review endpoints' rows of the authorisation table (search 999999 does not exist: allowed callers get 404).</summary>
    private static Dictionary<string, Row> ReviewRows() => new(StringComparer.Ordinal)
    {
        ["GET /api/reviews"] = new(Permissions.Review, _ => Get("/api/reviews")),
        ["POST /api/searches/{id:long}/candidates/{rank:int}/decision"] = new(Permissions.Review,
            _ => Http.PostJson("/api/searches/999999/candidates/1/decision", new { decision = "confirm" })),
        ["GET /api/searches/{id:long}/probe"] = new(Permissions.CasesRead, _ => Get("/api/searches/999999/probe")),
        ["GET /api/searches/{id:long}/probe/faces"] = new(Permissions.CasesRead, _ => Get("/api/searches/999999/probe/faces")),
        ["GET /api/searches/{id:long}/candidates"] = new(Permissions.CasesRead, _ => Get("/api/searches/999999/candidates")),
        ["POST /api/searches/{id:long}/candidates/{rank:int}/export"] = new(Permissions.Export, _ => Http.Post("/api/searches/999999/candidates/1/export")),
    };
}
