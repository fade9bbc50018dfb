using System.Net;

namespace Lineup.Server.Tests;

/// <summary>A server on a real socket (Kestrel): the headers a browser sees, the Server header included.</summary>
public sealed class KestrelServer : ServerFixture
{
    protected override string Name => "headers";

    protected override bool Kestrel => true;
}

/// <summary>Every answer carries the browser protections; API answers are never cached; the server does not say what it is.</summary>
public sealed class SecurityHeadersTests(KestrelServer server) : IClassFixture<KestrelServer>
{
    [Fact]
    public async Task Api_answers_carry_the_protections_and_are_not_cached()
    {
        Assert.True(server.Factory.IsKestrel);
        var client = server.Factory.NewClient();
        using var health = await client.GetAsync("/api/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        AssertProtected(health);
        Assert.True(health.Headers.CacheControl?.NoStore, $"Cache-Control: {health.Headers.CacheControl}");

        // Refusals too: a 401 ProblemDetails is an API answer like any other.
        using var refused = await client.GetAsync("/api/stats");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        AssertProtected(refused);
        Assert.True(refused.Headers.CacheControl?.NoStore, $"Cache-Control: {refused.Headers.CacheControl}");
    }

    [Fact]
    public async Task The_web_ui_is_served_with_the_protections()
    {
        using var index = await server.Factory.NewClient().GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<html", await index.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        AssertProtected(index);
        var csp = Csp(index);
        // The UI's own scripts only: no inline script, nothing from elsewhere.
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
    }

    private static void AssertProtected(HttpResponseMessage response)
    {
        var csp = Csp(response);
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("object-src 'none'", csp, StringComparison.Ordinal);
        Assert.Equal(["nosniff"], response.Headers.GetValues("X-Content-Type-Options"));
        Assert.Equal(["DENY"], response.Headers.GetValues("X-Frame-Options"));
        Assert.Equal(["no-referrer"], response.Headers.GetValues("Referrer-Policy"));
        Assert.False(response.Headers.Contains("Server"), "Server: " + string.Join(",", response.Headers.TryGetValues("Server", out var s) ? s : []));
        Assert.Empty(response.Headers.Server);
        Assert.False(response.Headers.Contains("X-Powered-By"));
    }

    private static string Csp(HttpResponseMessage response) =>
        Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
}
