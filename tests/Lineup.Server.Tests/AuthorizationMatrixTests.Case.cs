using Lineup.Server.Security;

namespace Lineup.Server.Tests;

public sealed partial class AuthorizationMatrixTests
{
    /// <summary>The cases endpoints' rows of the authorisation table.</summary>
    private static Dictionary<string, Row> CaseRows() => new(StringComparer.Ordinal)
    {
        ["GET /api/cases"] = new(Permissions.CasesRead, _ => Get("/api/cases")),
        ["GET /api/cases/{id:long}"] = new(Permissions.CasesRead, _ => Get("/api/cases/999999")),
        ["GET /api/cases/{id:long}/searches"] = new(Permissions.CasesRead, _ => Get("/api/cases/999999/searches")),
        ["GET /api/intake"] = new(Permissions.CasesRead, _ => Get("/api/intake")),
        ["POST /api/cases"] = new(Permissions.CasesManage, c => Http.PostJson("/api/cases", new
        {
            number = "M-" + c.NewUserName(), offence = "robbery", purpose = "matrix", authorisationReference = "W-1",
            authorisedUntil = DateTimeOffset.UtcNow.AddDays(30),
        })),
        ["GET /api/cases/assignable-users"] = new(Permissions.CasesManage, _ => Get("/api/cases/assignable-users")),
        ["POST /api/cases/{id:long}/assign"] = new(Permissions.CasesManage, _ => Http.PostJson("/api/cases/999999/assign", new { user = "m-victim" })),
        ["POST /api/cases/{id:long}/unassign"] = new(Permissions.CasesManage, _ => Http.PostJson("/api/cases/999999/unassign", new { user = "m-victim" })),
        ["POST /api/cases/{id:long}/close"] = new(Permissions.CasesManage, _ => Http.Post("/api/cases/999999/close")),
        ["POST /api/cases/{id:long}/reauthorise"] = new(Permissions.CasesManage, _ => Http.PostJson("/api/cases/999999/reauthorise", new { reference = "W-2", until = DateTimeOffset.UtcNow.AddDays(30) })),
        ["POST /api/cases/{id:long}/hold"] = new(Permissions.CasesManage, _ => Http.PostJson("/api/cases/999999/hold", new { hold = true, reason = "matrix" })),
        ["POST /api/users/{name}/clearance"] = new(Permissions.Admin, _ => Http.PostJson("/api/users/m-victim/clearance", new { ndaUntil = DateTimeOffset.UtcNow.AddDays(30), trainingUntil = DateTimeOffset.UtcNow.AddDays(30) })),
    };
}
