using Lineup.Server.Security;

namespace Lineup.Server.Tests;

public sealed partial class AuthorizationMatrixTests
{
    /// <summary>The report endpoints' rows of the authorisation table.</summary>
    private static Dictionary<string, Row> ReportRows() => new(StringComparer.Ordinal)
    {
        ["GET /api/cases/{id:long}/report.json"] = new(Permissions.Reports, _ => Get("/api/cases/999999/report.json")),
        ["GET /api/cases/{id:long}/report.pdf"] = new(Permissions.Reports, _ => Get("/api/cases/999999/report.pdf")),
        ["GET /api/oversight/activity"] = new(Permissions.Oversight, _ => Get("/api/oversight/activity")),
        ["GET /api/audit/status"] = new(Permissions.Oversight, _ => Get("/api/audit/status")),
    };
}
