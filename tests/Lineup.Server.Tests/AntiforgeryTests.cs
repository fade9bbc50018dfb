using System.Net;
using Lineup.Core.Security;
using Lineup.Server.Security;

namespace Lineup.Server.Tests;

/// <summary>Cookie-borne requests that change something need the session's anti-forgery token; API keys need none.</summary>
public sealed class AntiforgeryTests(DefaultServer server) : IClassFixture<DefaultServer>
{
    private LineupFactory Factory => server.Factory;

    [Fact]
    public async Task A_cookie_post_without_the_token_is_refused_and_changes_nothing()
    {
        await Factory.AddUserAsync("x-admin1", Role.Admin);
        var session = await Factory.SignInAsync("x-admin1");

        using var response = await session.Client.SendAsync(Collection("xsrf-missing"));

        var problem = await Http.ProblemAsync(response, HttpStatusCode.BadRequest, "Anti-forgery token missing");
        Assert.Contains(RequestGuards.AntiforgeryHeader, Http.Detail(problem), StringComparison.Ordinal);
        Assert.False(await CollectionExistsAsync("xsrf-missing"));

        // The same request with the session's token goes through: the token alone made the difference.
        using var allowed = await session.SendAsync(Collection("xsrf-missing"));
        await Http.JsonAsync(allowed, HttpStatusCode.Created);
        Assert.True(await CollectionExistsAsync("xsrf-missing"));
    }

    [Fact]
    public async Task A_token_from_another_session_is_refused()
    {
        await Factory.AddUserAsync("x-admin2", Role.Admin);
        await Factory.AddUserAsync("x-admin3", Role.Admin);
        var victim = await Factory.SignInAsync("x-admin2");
        var sameUserElsewhere = await Factory.SignInAsync("x-admin2");
        var otherUser = await Factory.SignInAsync("x-admin3");

        foreach (var (foreign, label) in new[] { (sameUserElsewhere.Token, "same user, other browser"), (otherUser.Token, "other user") })
        {
            using var request = Collection("xsrf-foreign");
            request.Headers.Add(RequestGuards.AntiforgeryHeader, foreign);
            using var response = await victim.Client.SendAsync(request);
            var problem = await Http.ProblemAsync(response, HttpStatusCode.BadRequest, "Anti-forgery token invalid");
            Assert.True(problem.GetProperty("detail").GetString()!.Length > 0, label);
        }

        Assert.False(await CollectionExistsAsync("xsrf-foreign"));
    }

    [Fact]
    public async Task A_token_fetched_before_sign_in_no_longer_works_after_it()
    {
        await Factory.AddUserAsync("x-admin4", Role.Admin);
        var client = Factory.NewClient(cookies: true);
        var before = await LineupFactory.AntiforgeryTokenAsync(client);
        using (var signIn = Http.PostJson("/api/auth/signin", new { userName = "x-admin4", password = LineupFactory.Password }))
        {
            signIn.Headers.Add(RequestGuards.AntiforgeryHeader, before);
            await Http.JsonAsync(await client.SendAsync(signIn));
        }

        using var request = Collection("xsrf-stale");
        request.Headers.Add(RequestGuards.AntiforgeryHeader, before);
        await Http.ProblemAsync(await client.SendAsync(request), HttpStatusCode.BadRequest, "Anti-forgery token invalid");
        Assert.False(await CollectionExistsAsync("xsrf-stale"));
    }

    [Fact]
    public async Task Sign_in_itself_needs_the_token()
    {
        await Factory.AddUserAsync("x-reviewer", Role.Reviewer);
        var client = Factory.NewClient(cookies: true);
        using var response = await client.SendAsync(Http.PostJson("/api/auth/signin", new { userName = "x-reviewer", password = LineupFactory.Password }));
        await Http.ProblemAsync(response, HttpStatusCode.BadRequest, "Anti-forgery token missing");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/auth/me")).StatusCode);
    }

    [Fact]
    public async Task Api_key_posts_need_no_token()
    {
        var admin = await Factory.UserWithKeyAsync("x-keyadmin", Role.Admin);

        using var response = await admin.SendAsync(Collection("xsrf-key"));

        var created = await Http.JsonAsync(response, HttpStatusCode.Created);
        Assert.Equal("xsrf-key", created.GetProperty("name").GetString());
        Assert.True(await CollectionExistsAsync("xsrf-key"));
    }

    private static HttpRequestMessage Collection(string name) =>
        Http.PostJson("/api/collections", new { name, lawfulBasis = "anti-forgery test", jurisdiction = "DE" });

    private async Task<bool> CollectionExistsAsync(string name) =>
        (await Factory.Engine.Catalog.ListCollectionsAsync()).Any(c => c.Name == name);
}
