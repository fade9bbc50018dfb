using Lineup.Server.Security;

namespace Lineup.Server.Tests;

public sealed partial class AuthorizationMatrixTests
{
    /// <summary>
    /// The network endpoints' rows of the authorisation table. Past authorisation, every query meets the case gate, which
    /// refuses with 403 too (a supervisor of the matrix is not assigned to the test case): each minimal request is one the
    /// endpoint answers 400 before the gate (an id of 0, a hop limit over the server's, a missing field), so that a 403 here
    /// can only be a refused permission. NetworkApiTests covers the gate.
    /// </summary>
    private static Dictionary<string, Row> NetworkRows() => new(StringComparer.Ordinal)
    {
        ["GET /api/network/status"] = new(Permissions.Network, _ => Get("/api/network/status")),
        ["POST /api/network/cluster"] = new(Permissions.Admin, _ => Http.Post("/api/network/cluster")),
        ["GET /api/network/identities"] = new(Permissions.Network, _ => Get($"/api/network/identities?case={Http.TestCase}&limit=0")),
        ["GET /api/network/identities/{id:long}"] = new(Permissions.Network, _ => Get($"/api/network/identities/0?case={Http.TestCase}")),
        ["GET /api/network/faces/{faceId:long}/identity"] = new(Permissions.Network, _ => Get($"/api/network/faces/0/identity?case={Http.TestCase}")),
        ["GET /api/network/identities/{id:long}/associates"] = new(Permissions.Network, _ => Get($"/api/network/identities/1/associates?case={Http.TestCase}&hops=3")),
        ["GET /api/network/path"] = new(Permissions.Network, _ => Get($"/api/network/path?case={Http.TestCase}&from=1&to=2&maxHops=5")),
        ["GET /api/network/edges/{a:long}/{b:long}"] = new(Permissions.Network, _ => Get($"/api/network/edges/1/1?case={Http.TestCase}")),
        ["GET /api/network/communities"] = new(Permissions.Network, _ => Get($"/api/network/communities?case={Http.TestCase}&limit=0")),
        ["GET /api/network/export"] = new(Permissions.Network, _ => Get($"/api/network/export?case={Http.TestCase}&format=pdf")),
        ["POST /api/network/identities/{id:long}/merge"] = new(Permissions.Network, _ => Http.PostJson("/api/network/identities/1/merge", new { @case = Http.TestCase })),
        ["POST /api/network/identities/{id:long}/split"] = new(Permissions.Network, _ => Http.PostJson("/api/network/identities/1/split", new { @case = Http.TestCase, faces = Array.Empty<long>() })),
        ["POST /api/network/faces/{faceId:long}/move"] = new(Permissions.Network, _ => Http.PostJson("/api/network/faces/1/move", new { @case = Http.TestCase })),
        ["PUT /api/network/identities/{id:long}/name"] = new(Permissions.Network, _ => new HttpRequestMessage(HttpMethod.Put, "/api/network/identities/0/name")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { @case = Http.TestCase, name = "matrix" }),
        }),
    };
}
