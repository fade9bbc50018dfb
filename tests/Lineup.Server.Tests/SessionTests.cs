using System.Net;
using System.Text.Json;
using Lineup.Core.Security;
using Lineup.Server.Security;

namespace Lineup.Server.Tests;

/// <summary>Sessions end when the account changes; sign-in failures say nothing about which part was wrong.</summary>
public sealed class SessionTests(DefaultServer server) : IClassFixture<DefaultServer>
{
    private LineupFactory Factory => server.Factory;

    [Fact]
    public async Task Disabling_a_user_ends_their_session_and_their_keys_at_the_next_request()
    {
        await Factory.AddUserAsync("s-disabled", Role.Analyst);
        var key = Factory.KeyClient(await Factory.AddKeyAsync("s-disabled"));
        var session = await Factory.SignInAsync("s-disabled");
        await Http.JsonAsync(await session.GetAsync("/api/auth/me"));
        await Http.JsonAsync(await key.GetAsync("/api/auth/me"));

        await Factory.Engine.Users.DisableUserAsync("s-disabled");

        await Http.ProblemAsync(await session.GetAsync("/api/auth/me"), HttpStatusCode.Unauthorized);
        await Http.ProblemAsync(await session.GetAsync("/api/stats"), HttpStatusCode.Unauthorized);
        await Http.ProblemAsync(await key.GetAsync("/api/stats"), HttpStatusCode.Unauthorized);
        // The cookie kept from before is refused too, not only the browser that was told to drop it.
        await Http.ProblemAsync(await ReplayAsync(session, "/api/auth/me"), HttpStatusCode.Unauthorized);
        using var again = await SignInRequestAsync("s-disabled", LineupFactory.Password);
        await Http.ProblemAsync(again, HttpStatusCode.Unauthorized, "Sign-in failed");
    }

    [Fact]
    public async Task Changing_the_password_ends_sessions_and_only_the_new_password_signs_in()
    {
        await Factory.AddUserAsync("s-password", Role.Reviewer);
        var session = await Factory.SignInAsync("s-password");
        await Http.JsonAsync(await session.GetAsync("/api/auth/me"));

        await Factory.Users.SetPasswordAsync("s-password", "a brand new passphrase");

        await Http.ProblemAsync(await session.GetAsync("/api/auth/me"), HttpStatusCode.Unauthorized);
        await Http.ProblemAsync(await ReplayAsync(session, "/api/auth/me"), HttpStatusCode.Unauthorized);
        await Http.ProblemAsync(await SignInRequestAsync("s-password", LineupFactory.Password), HttpStatusCode.Unauthorized, "Sign-in failed");
        var renewed = await Factory.SignInAsync("s-password", "a brand new passphrase");
        var me = await Http.JsonAsync(await renewed.GetAsync("/api/auth/me"));
        Assert.Equal("s-password", me.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Changing_roles_ends_sessions_so_no_session_keeps_permissions_it_lost()
    {
        await Factory.AddUserAsync("s-roles", Role.Admin);
        var session = await Factory.SignInAsync("s-roles");
        await Http.JsonAsync(await session.GetAsync("/api/users"));

        await Factory.Engine.Users.SetRolesAsync("s-roles", [Role.Reviewer]);

        await Http.ProblemAsync(await session.GetAsync("/api/users"), HttpStatusCode.Unauthorized);
        var renewed = await Factory.SignInAsync("s-roles");
        await Http.ProblemAsync(await renewed.GetAsync("/api/users"), HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_wrong_password_an_unknown_user_and_a_disabled_user_get_the_same_answer()
    {
        await Factory.AddUserAsync("s-known", Role.Reviewer);
        await Factory.AddUserAsync("s-off", Role.Reviewer);
        await Factory.Engine.Users.DisableUserAsync("s-off");

        var answers = new List<JsonElement>();
        foreach (var (user, password) in new[] { ("s-known", "not the right password"), ("s-nobody", LineupFactory.Password), ("s-off", LineupFactory.Password) })
        {
            using var response = await SignInRequestAsync(user, password);
            answers.Add(await Http.ProblemAsync(response, HttpStatusCode.Unauthorized, "Sign-in failed"));
            Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("lineup.auth=", StringComparison.Ordinal) && !c.StartsWith("lineup.auth=;", StringComparison.Ordinal)),
                $"{user}: a session cookie was set");
        }

        // Same title and detail (the trace id differs per request): nothing tells an unknown name from a wrong password.
        Assert.All(answers, a => Assert.Equal(Http.Detail(answers[0]), Http.Detail(a)));
        Assert.DoesNotContain("s-nobody", answers[1].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sign_in_answers_who_signed_in_and_sign_out_ends_the_session()
    {
        await Factory.AddUserAsync("s-out", Role.Supervisor);
        var session = await Factory.SignInAsync("s-out");
        var me = await Http.JsonAsync(await session.GetAsync("/api/auth/me"));
        Assert.Equal("s-out", me.GetProperty("name").GetString());
        Assert.Equal(["supervisor"], me.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(
            Permissions.Of(Role.Supervisor).Order(StringComparer.Ordinal), me.GetProperty("permissions").EnumerateArray().Select(r => r.GetString()));
        Assert.Contains(session.SetCookies, c => c.StartsWith("lineup.auth=", StringComparison.Ordinal) &&
            c.Contains("httponly", StringComparison.OrdinalIgnoreCase) && c.Contains("samesite=strict", StringComparison.OrdinalIgnoreCase));

        using var signOut = await session.PostAsync("/api/auth/signout", new StringContent(""));

        Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);
        Assert.Contains(signOut.Headers.GetValues("Set-Cookie"), c => c.StartsWith("lineup.auth=;", StringComparison.Ordinal));
        await Http.ProblemAsync(await session.GetAsync("/api/auth/me"), HttpStatusCode.Unauthorized, "Not authenticated");
        await Http.ProblemAsync(await session.GetAsync("/api/searches"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_session_cookie_kept_from_before_sign_out_no_longer_works_after_it()
    {
        await Factory.AddUserAsync("s-kept", Role.Analyst);
        var session = await Factory.SignInAsync("s-kept");
        await Http.JsonAsync(await ReplayAsync(session, "/api/auth/me"));

        using var signOut = await session.PostAsync("/api/auth/signout", new StringContent(""));
        Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);

        // Sign-out must end the session on the server (OWASP ASVS 3.3.1), not only ask this browser to forget the
        // cookie: a copy of it (another tab's, a proxy's, a thief's) must stop working too.
        await Http.ProblemAsync(await ReplayAsync(session, "/api/auth/me"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_request_with_an_api_key_is_judged_by_the_key_alone()
    {
        await Factory.AddUserAsync("s-both", Role.Admin);
        var session = await Factory.SignInAsync("s-both");
        await Http.JsonAsync(await session.GetAsync("/api/users"));

        // A signed-in browser that also sends a wrong key is refused: the key, not the cookie, decides.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/users");
        request.Headers.Add(ApiKeyAuthenticationHandler.HeaderName, UserDirectory.KeyPrefix + "not-a-key");
        await Http.ProblemAsync(await session.Client.SendAsync(request), HttpStatusCode.Unauthorized);
    }

    private async Task<HttpResponseMessage> SignInRequestAsync(string userName, string password)
    {
        var client = Factory.NewClient(cookies: true);
        var token = await LineupFactory.AntiforgeryTokenAsync(client);
        var request = Http.PostJson("/api/auth/signin", new { userName, password });
        request.Headers.Add(RequestGuards.AntiforgeryHeader, token);
        return await client.SendAsync(request);
    }

    /// <summary>The session's cookies sent by a client that never heard the server tell it to drop them.</summary>
    private async Task<HttpResponseMessage> ReplayAsync(Session session, string url)
    {
        var client = Factory.NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("Cookie", session.CookieHeader);
        return await client.SendAsync(request);
    }
}
