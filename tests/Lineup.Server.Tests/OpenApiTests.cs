using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Lineup.Server.Tests;

/// <summary>The API description: served, identical to the committed copy, complete; and its reference page.</summary>
public sealed partial class OpenApiTests(DefaultServer server, ITestOutputHelper output) : IClassFixture<DefaultServer>
{
    private static string CommittedPath => Path.Combine(TestPaths.RepoRoot, "docs", "api", "lineup-openapi.json");

    [Fact]
    public async Task The_committed_document_is_the_one_the_running_app_serves()
    {
        using var response = await server.Factory.NewClient().GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var served = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(CommittedPath))!;
        // The served copy names the host it was asked on (servers: http://localhost/); the build's copy has no host.
        Assert.True(served.Remove("servers") || !committed.AsObject().ContainsKey("servers"));

        // Whitespace and key layout aside, the documents are the same JSON.
        if (!JsonNode.DeepEquals(served, committed))
        {
            var difference = FirstDifference(served, committed, "$");
            output.WriteLine(difference);
            Assert.Fail($"docs/api/lineup-openapi.json is stale (rebuild src/Lineup.Server to regenerate it); first difference: {difference}");
        }
    }

    [Fact]
    public async Task Every_api_endpoint_is_described()
    {
        using var response = await server.Factory.NewClient().GetAsync("/openapi/v1.json");
        var paths = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["paths"]!.AsObject();
        var endpoints = server.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.StartsWith("/api/", StringComparison.Ordinal))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => (Method: m, Path: RouteParameter().Replace(e.RoutePattern.RawText!, "{$1}"))))
            .ToList();
        Assert.True(endpoints.Count >= 20, $"{endpoints.Count} API endpoints");
        var missing = endpoints.Where(e => paths[e.Path]?[e.Method.ToLowerInvariant()] is null).Select(e => $"{e.Method} {e.Path}").ToList();
        Assert.True(missing.Count == 0, "not in the OpenAPI document: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task The_api_reference_page_is_html()
    {
        using var response = await server.Factory.NewClient().GetAsync("/scalar");
        var page = response.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.MovedPermanently
            ? await server.Factory.NewClient().GetAsync(response.Headers.Location)
            : response;
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<html", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Lineup API reference", html, StringComparison.Ordinal);
    }

    private static string FirstDifference(JsonNode? a, JsonNode? b, string path)
    {
        switch (a, b)
        {
            case (JsonObject x, JsonObject y):
                foreach (var key in x.Select(p => p.Key).Union(y.Select(p => p.Key)))
                {
                    if (!x.ContainsKey(key) || !y.ContainsKey(key))
                    {
                        return $"{path}.{key}: {(x.ContainsKey(key) ? "only served" : "only committed")}";
                    }

                    if (!JsonNode.DeepEquals(x[key], y[key]))
                    {
                        return FirstDifference(x[key], y[key], $"{path}.{key}");
                    }
                }

                break;
            case (JsonArray x, JsonArray y) when x.Count == y.Count:
                for (var i = 0; i < x.Count; i++)
                {
                    if (!JsonNode.DeepEquals(x[i], y[i]))
                    {
                        return FirstDifference(x[i], y[i], $"{path}[{i}]");
                    }
                }

                break;
            default:
                break;
        }

        return $"{path}: served {Short(a)}, committed {Short(b)}";
    }

    private static string Short(JsonNode? node)
    {
        var text = node?.ToJsonString() ?? "null";
        return text.Length <= 200 ? text : text[..200] + "…";
    }

    /// <summary>Route parameters as OpenAPI writes them: <c>{id:long}</c> → <c>{id}</c>, <c>{name?}</c> → <c>{name}</c>.</summary>
    [GeneratedRegex(@"\{(\w+)(?::[^}?]*)?\??\}")]
    private static partial Regex RouteParameter();
}
