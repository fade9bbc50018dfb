using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Lineup.Core.Security;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Lineup.Server.Tests;

/// <summary>Users of every role, their keys, and callers who must be refused: a revoked key, a disabled user.</summary>
public sealed class MatrixServer : ServerFixture
{
    public Dictionary<Role, string> Keys { get; } = [];

    public string RevokedKey { get; private set; } = "";

    protected override string Name => "matrix";

    protected override async Task SeedAsync(LineupFactory factory)
    {
        foreach (var role in Roles.All)
        {
            await factory.AddUserAsync(User(role), role);
            Keys[role] = await factory.AddKeyAsync(User(role));
        }

        await factory.AddUserAsync("m-multi", Role.Analyst, Role.Supervisor);
        // Searchers may search (the minimal search request is then answered 422, no face), so that a 403 can only be a
        // refused permission.
        await factory.AssignToCaseAsync(User(Role.Analyst), Http.TestCase);
        await factory.AssignToCaseAsync("m-multi", Http.TestCase);
        // Every role: if a refusal leaked through, it would show as an allowed request.
        await factory.AddUserAsync("m-revoked", [.. Roles.All]);
        var (key, secret) = await factory.Users.CreateApiKeyAsync("m-revoked", "revoked");
        using (var client = factory.KeyClient(secret))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/auth/me")).StatusCode);
        }

        await factory.Engine.Users.RevokeApiKeyAsync(key.Id);
        RevokedKey = secret;
        await factory.AddUserAsync("m-disabled", [.. Roles.All]);
        await factory.AddUserAsync("m-victim", Role.Reviewer);
        await factory.AddUserAsync("m-signin", Role.Reviewer);
    }

    public static string User(Role role) => "m-" + Roles.Name(role);
}

/// <summary>
/// Every endpoint of the running app × every kind of caller. The expectation table below is the specification: it
/// must list every endpoint the app maps (a new endpoint fails the test until it is added here), its permission must
/// agree with the endpoint's authorisation metadata, and the answers must agree with <see cref="Permissions.Of(Role)"/>.
/// </summary>
public sealed partial class AuthorizationMatrixTests(MatrixServer server, ITestOutputHelper output) : IClassFixture<MatrixServer>
{
    private const string Anonymous = "anonymous";

    /// <summary>What each endpoint requires, and a minimal request for it (allowed requests may still be 4xx).</summary>
    /// <summary>The rows of this file and of each area's partial file (cases, reviews, retention, opt-outs, reports).</summary>
    private static Dictionary<string, Row> Table()
    {
        var table = new Dictionary<string, Row>(s_coreRows, StringComparer.Ordinal);
        foreach (var (key, row) in CaseRows().Concat(ReviewRows()).Concat(RetentionRows()).Concat(OptOutRows()).Concat(ReportRows()).Concat(NetworkRows()))
        {
            table.Add(key, row);
        }

        return table;
    }

    private static readonly Dictionary<string, Row> s_coreRows = new(StringComparer.Ordinal)
    {
        ["GET /api/health"] = new(Anonymous, _ => Get("/api/health")),
        ["GET /api/auth/antiforgery"] = new(Anonymous, _ => Get("/api/auth/antiforgery")),
        ["POST /api/auth/signin"] = new(Anonymous, _ => Http.PostJson("/api/auth/signin", new { userName = "m-signin", password = LineupFactory.Password }), ChangesSession: true),
        ["POST /api/auth/signout"] = new(Permissions.SignedIn, _ => Http.Post("/api/auth/signout"), ChangesSession: true),
        ["GET /api/auth/me"] = new(Permissions.SignedIn, _ => Get("/api/auth/me")),
        ["GET /api/stats"] = new(Permissions.GalleryRead, _ => Get("/api/stats")),
        ["GET /api/collections"] = new(Permissions.GalleryRead, _ => Get("/api/collections")),
        ["POST /api/collections"] = new(Permissions.Admin, _ => Http.PostJson("/api/collections", new { name = "matrix", lawfulBasis = "test", jurisdiction = "DE" })),
        ["POST /api/search/faces"] = new(Permissions.Search, c => Http.Post("/api/search/faces", Http.Form("photo", c.Photo))),
        ["POST /api/search"] = new(Permissions.Search, c => Http.Post("/api/search", Http.SearchForm(c.Photo))),
        ["POST /api/verify"] = new(Permissions.Search, c => Http.Post("/api/verify", TwoPhotos(c.Photo))),
        ["GET /api/faces/{id:long}"] = new(Permissions.GalleryRead, _ => Get("/api/faces/1")),
        ["GET /api/faces/{id:long}/thumbnail"] = new(Permissions.GalleryRead, _ => Get("/api/faces/1/thumbnail")),
        ["GET /api/images/{id:long}"] = new(Permissions.GalleryRead, _ => Get("/api/images/1")),
        ["GET /api/images/{id:long}/preview"] = new(Permissions.GalleryRead, _ => Get("/api/images/1/preview")),
        ["GET /api/images/{id:long}/original"] = new(Permissions.GalleryRead, _ => Get("/api/images/1/original")),
        ["DELETE /api/images/{id:long}"] = new(Permissions.Admin, _ => new(HttpMethod.Delete, "/api/images/999999")),
        ["DELETE /api/faces/{id:long}"] = new(Permissions.Admin, _ => new(HttpMethod.Delete, "/api/faces/999999")),
        ["GET /api/searches"] = new(Permissions.SearchesRead, _ => Get("/api/searches?limit=5")),
        ["POST /api/ingest/uploads"] = new(Permissions.Admin, _ => Http.Post("/api/ingest/uploads", Http.Fields(("collection", "matrix"), ("lawfulBasis", "test")))),
        ["POST /api/ingest/paths"] = new(Permissions.Admin, c => Http.PostJson("/api/ingest/paths", new { path = c.MissingIncomingPath, collection = "matrix", lawfulBasis = "test" })),
        ["GET /api/ingest/jobs"] = new(Permissions.Admin, _ => Get("/api/ingest/jobs")),
        ["GET /api/ingest/jobs/{id:long}"] = new(Permissions.Admin, _ => Get("/api/ingest/jobs/999")),
        ["GET /api/users"] = new(Permissions.Admin, _ => Get("/api/users")),
        ["POST /api/users"] = new(Permissions.Admin, c => Http.PostJson("/api/users", new { name = c.NewUserName(), roles = new[] { "reviewer" }, password = LineupFactory.Password })),
        ["POST /api/users/{name}/disable"] = new(Permissions.Admin, _ => Http.Post("/api/users/m-victim/disable")),
        ["POST /api/users/{name}/api-keys"] = new(Permissions.Admin, _ => Http.PostJson("/api/users/m-victim/api-keys", new { name = "matrix" })),
        ["GET /openapi/{documentName}.json"] = new(Anonymous, _ => Get("/openapi/v1.json")),
        ["GET /scalar/{documentName?}"] = new(Anonymous, _ => Get("/scalar/v1")),
        ["GET /scalar/scalar.js"] = new(Anonymous, _ => Get("/scalar/scalar.js")),
        ["GET /scalar/scalar.aspnetcore.js"] = new(Anonymous, _ => Get("/scalar/scalar.aspnetcore.js")),
        ["GET /scalar/favicon.svg"] = new(Anonymous, _ => Get("/scalar/favicon.svg")),
    };

    // After the rows it is built from: static fields are initialised in the order they are written.
    private static readonly Dictionary<string, Row> s_table = Table();

    /// <summary>The role → permission map of the API contract (docs: "Roles: analyst (search, gallery.read), …").</summary>
    private static readonly Dictionary<Role, string[]> s_contractRoles = new()
    {
        [Role.Analyst] = [Permissions.Search, Permissions.GalleryRead, Permissions.CasesRead, Permissions.Export, Permissions.Network],
        [Role.Reviewer] = [Permissions.GalleryRead, Permissions.CasesRead, Permissions.Review],
        [Role.Supervisor] =
        [
            Permissions.GalleryRead, Permissions.SearchesRead, Permissions.CasesRead, Permissions.CasesManage, Permissions.Reports,
            Permissions.Oversight, Permissions.Export, Permissions.Network,
        ],
        [Role.Auditor] = [Permissions.SearchesRead, Permissions.CasesRead, Permissions.Reports, Permissions.Oversight],
        [Role.Admin] = [Permissions.GalleryRead, Permissions.Admin, Permissions.CasesRead, Permissions.CasesManage, Permissions.Retention, Permissions.OptOut],
    };

    [Fact]
    public void Roles_grant_exactly_the_permissions_of_the_contract()
    {
        foreach (var role in Roles.All)
        {
            Assert.Equal(s_contractRoles[role].Order(StringComparer.Ordinal), Permissions.Of(role).Order(StringComparer.Ordinal));
        }

        Assert.Equal(
            new[]
            {
                Permissions.CasesManage, Permissions.CasesRead, Permissions.Export, Permissions.GalleryRead, Permissions.Oversight, Permissions.Reports,
                Permissions.Search, Permissions.SearchesRead, Permissions.Network,
            }.Order(StringComparer.Ordinal),
            Permissions.Of([Role.Analyst, Role.Supervisor]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_endpoint_is_in_the_table_and_its_authorisation_metadata_agrees()
    {
        var endpoints = Endpoints();
        Assert.True(endpoints.Count >= 25, $"only {endpoints.Count} endpoints found");
        var unlisted = endpoints.Keys.Where(k => !s_table.ContainsKey(k)).ToList();
        Assert.True(unlisted.Count == 0, "endpoints missing from the authorisation table: " + string.Join(", ", unlisted));
        var gone = s_table.Keys.Where(k => !endpoints.ContainsKey(k)).ToList();
        Assert.True(gone.Count == 0, "table rows for endpoints the app no longer maps: " + string.Join(", ", gone));
        foreach (var (key, endpoint) in endpoints)
        {
            Assert.True(s_table[key].Requirement == RequirementOf(endpoint),
                $"{key}: the table says '{s_table[key].Requirement}', the endpoint's metadata says '{RequirementOf(endpoint)}'");
        }
    }

    [Fact]
    public async Task Every_endpoint_answers_every_caller_as_the_permissions_say()
    {
        var factory = server.Factory;
        var context = new RequestContext(factory.DataDirectory);
        var callers = await CallersAsync();
        var failures = new List<string>();
        var unexpectedAllows = new List<string>();
        int allowed = 0, denied = 0;
        foreach (var (key, endpoint) in Endpoints().OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!s_table.TryGetValue(key, out var row))
            {
                failures.Add($"{key}: not in the table");
                continue;
            }

            var answers = new List<int>();
            foreach (var caller in callers)
            {
                var (client, prepare) = row.ChangesSession && caller.Stateful ? await caller.OpenAsync() : caller.Shared!.Value;
                using var request = row.Request(context);
                prepare(request);
                using var response = await client.SendAsync(request);
                var status = (int)response.StatusCode;
                answers.Add(status);
                var body = await response.Content.ReadAsStringAsync();
                if (row.ChangesSession && caller.Stateful)
                {
                    // Sign-out renews the user's security stamp, which ends every session of that user: the shared one too.
                    await caller.RenewSharedAsync();
                }

                var label = $"{key} as {caller.Name}: {status}";
                var shouldAllow = row.Requirement == Anonymous ||
                    (caller.Permissions is { } granted && (row.Requirement == Permissions.SignedIn || granted.Contains(row.Requirement)));
                if (status >= 500)
                {
                    failures.Add($"{label} (a server error: {body})");
                }

                if (shouldAllow)
                {
                    allowed++;
                    if (status is 401 or 403)
                    {
                        failures.Add($"{label}, but the caller is allowed ({body})");
                    }

                    continue;
                }

                denied++;
                var expected = caller.Permissions is null ? 401 : 403;
                if (status != expected)
                {
                    (status is 401 or 403 ? failures : unexpectedAllows).Add($"{label}, expected {expected} ({Shorten(body)})");
                    continue;
                }

                if (ProblemError(response, body, status) is { } error)
                {
                    failures.Add($"{label}: {error}");
                }
            }

            output.WriteLine($"{key,-40} {string.Join(" ", answers)}");
        }

        output.WriteLine("callers, in column order: " + string.Join("; ", callers.Select(c => c.Name)));
        output.WriteLine($"authorisation matrix: {Endpoints().Count} endpoints × {callers.Count} callers = {allowed + denied} requests " +
            $"({allowed} allowed, {denied} refused)");
        Assert.True(unexpectedAllows.Count == 0, "requests that should have been refused were not:\n" + string.Join("\n", unexpectedAllows));
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(Endpoints().Count * callers.Count, allowed + denied);
    }

    /// <summary>Every kind of caller, each checked to be what it claims before the matrix runs.</summary>
    private async Task<List<Caller>> CallersAsync()
    {
        var factory = server.Factory;
        var callers = new List<Caller>();
        foreach (var role in Roles.All)
        {
            var user = MatrixServer.User(role);
            callers.Add(await Caller.OpenAsync($"{Roles.Name(role)} (cookie)", Permissions.Of(role), stateful: true, () => CookieCallerAsync(user)));
            var key = server.Keys[role];
            callers.Add(await Caller.OpenAsync($"{Roles.Name(role)} (API key)", Permissions.Of(role), stateful: false,
                () => Task.FromResult<(HttpClient, Action<HttpRequestMessage>)>((factory.KeyClient(key), _ => { }))));
        }

        var analystKey = server.Keys[Role.Analyst];
        callers.Add(await Caller.OpenAsync("analyst (Authorization: Bearer)", Permissions.Of(Role.Analyst), stateful: false, () =>
        {
            var client = factory.NewClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", analystKey);
            return Task.FromResult<(HttpClient, Action<HttpRequestMessage>)>((client, _ => { }));
        }));
        callers.Add(await Caller.OpenAsync("analyst+supervisor (cookie)", Permissions.Of([Role.Analyst, Role.Supervisor]), stateful: true,
            () => CookieCallerAsync("m-multi")));
        callers.Add(await Caller.OpenAsync("anonymous", null, stateful: true, async () =>
        {
            // A browser that has the anonymous anti-forgery token, so that only the missing sign-in can refuse it.
            var client = factory.NewClient(cookies: true);
            var token = await LineupFactory.AntiforgeryTokenAsync(client);
            return (client, r => r.Headers.Add(RequestGuards.AntiforgeryHeader, token));
        }));
        callers.Add(await Caller.OpenAsync("a wrong API key", null, stateful: false, () =>
            Task.FromResult<(HttpClient, Action<HttpRequestMessage>)>((factory.KeyClient(UserDirectory.KeyPrefix + new string('x', 43)), _ => { }))));
        callers.Add(await Caller.OpenAsync("a revoked API key", null, stateful: false, () =>
            Task.FromResult<(HttpClient, Action<HttpRequestMessage>)>((factory.KeyClient(server.RevokedKey), _ => { }))));

        // The disabled user: a key and a signed-in session, both shown to work, then the user is disabled. The session
        // cookie is replayed by hand on every request (as someone who kept it would), so the server cannot rely on
        // the browser having dropped it.
        var disabledKey = await factory.AddKeyAsync("m-disabled");
        var session = await factory.SignInAsync("m-disabled");
        var replay = factory.NewClient();
        void Replay(HttpRequestMessage r)
        {
            r.Headers.Add("Cookie", session.CookieHeader);
            r.Headers.Add(RequestGuards.AntiforgeryHeader, session.Token);
        }

        using (var check = new HttpRequestMessage(HttpMethod.Get, "/api/auth/me"))
        {
            Replay(check);
            Assert.Equal(HttpStatusCode.OK, (await replay.SendAsync(check)).StatusCode);
        }

        using (var keyClient = factory.KeyClient(disabledKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await keyClient.GetAsync("/api/auth/me")).StatusCode);
        }

        await factory.Engine.Users.DisableUserAsync("m-disabled");
        callers.Add(await Caller.OpenAsync("a disabled user's API key", null, stateful: false, () =>
            Task.FromResult<(HttpClient, Action<HttpRequestMessage>)>((factory.KeyClient(disabledKey), _ => { }))));
        callers.Add(await Caller.OpenAsync("a disabled user's session cookie", null, stateful: false, () =>
            Task.FromResult<(HttpClient, Action<HttpRequestMessage>)>((replay, Replay))));

        // Each caller is what it claims: /api/auth/me says who it is (or refuses the unauthenticated).
        foreach (var caller in callers)
        {
            var (client, prepare) = caller.Shared!.Value;
            using var request = Get("/api/auth/me");
            prepare(request);
            using var response = await client.SendAsync(request);
            Assert.True((response.StatusCode == HttpStatusCode.OK) == (caller.Permissions is not null), $"{caller.Name}: /api/auth/me {(int)response.StatusCode}");
            if (caller.Permissions is { } permissions)
            {
                var me = await Http.JsonAsync(response);
                Assert.Equal(permissions.Order(StringComparer.Ordinal), me.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()!));
            }
        }

        return callers;

        async Task<(HttpClient, Action<HttpRequestMessage>)> CookieCallerAsync(string user)
        {
            var s = await factory.SignInAsync(user);
            return (s.Client, r => r.Headers.Add(RequestGuards.AntiforgeryHeader, s.Token));
        }
    }

    private Dictionary<string, RouteEndpoint> Endpoints() =>
        server.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => (Key: $"{m} {e.RoutePattern.RawText}", Endpoint: e)))
            .ToDictionary(e => e.Key, e => e.Endpoint, StringComparer.Ordinal);

    /// <summary>
    /// The permission the endpoint's metadata requires: anonymous when it allows anonymous callers; the policy it
    /// names (policies are named after permissions); signed-in when it names none (the fallback policy).
    /// </summary>
    private static string RequirementOf(Endpoint endpoint)
    {
        if (endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null)
        {
            return Anonymous;
        }

        var data = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>();
        Assert.All(data, d => Assert.True(string.IsNullOrEmpty(d.Roles), $"{endpoint.DisplayName} names roles; endpoints name permissions"));
        var policies = data.Select(d => d.Policy ?? Permissions.SignedIn).Distinct().ToList();
        return policies.Count == 0 ? Permissions.SignedIn : string.Join("+", policies);
    }

    private static string? ProblemError(HttpResponseMessage response, string body, int status)
    {
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return $"content type {response.Content.Headers.ContentType}";
        }

        try
        {
            var problem = JsonDocument.Parse(body).RootElement;
            if (!problem.TryGetProperty("status", out var s) || s.GetInt32() != status)
            {
                return $"ProblemDetails status is not {status}: {body}";
            }

            if (!problem.TryGetProperty("title", out var t) || string.IsNullOrWhiteSpace(t.GetString()))
            {
                return "ProblemDetails without a title";
            }

            Http.AssertNoInternals(body);
            return null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or Xunit.Sdk.XunitException)
        {
            return $"not a ProblemDetails body ({e.Message}): {Shorten(body)}";
        }
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private static HttpRequestMessage Get(string url) => new(HttpMethod.Get, url);

    private static MultipartFormDataContent TwoPhotos(byte[] photo)
    {
        var form = Http.Form("a", photo, fileName: "a.jpg");
        form.Add(new ByteArrayContent(photo) { Headers = { ContentType = new MediaTypeHeaderValue("image/jpeg") } }, "b", "b.jpg");
        return form;
    }

    private sealed record Row(string Requirement, Func<RequestContext, HttpRequestMessage> Request, bool ChangesSession = false);

    /// <summary>What the minimal requests need: a small photo with no face, a path under the incoming folder that does not exist.</summary>
    private sealed class RequestContext(string dataDirectory)
    {
        private int _users;

        public byte[] Photo { get; } = TestImages.Jpeg(64, 48);

        public string MissingIncomingPath { get; } = Path.Combine(dataDirectory, "incoming", "nothing-here");

        public string NewUserName() => "m-new-" + Interlocked.Increment(ref _users);
    }

    /// <summary>
    /// A kind of caller. <see cref="Shared"/> serves every request; a stateful caller (a browser with cookies) gets a fresh
    /// instance for requests that sign in or out, so the shared one keeps its session.
    /// </summary>
    private sealed class Caller(string name, IReadOnlySet<string>? permissions, bool stateful, Func<Task<(HttpClient, Action<HttpRequestMessage>)>> open)
    {
        public string Name { get; } = name;

        /// <summary>Null for a caller that is not authenticated at all.</summary>
        public IReadOnlySet<string>? Permissions { get; } = permissions;

        public bool Stateful { get; } = stateful;

        public (HttpClient Client, Action<HttpRequestMessage> Prepare)? Shared { get; private set; }

        public Task<(HttpClient, Action<HttpRequestMessage>)> OpenAsync() => open();

        public async Task RenewSharedAsync() => Shared = await open();

        public static async Task<Caller> OpenAsync(
            string name, IReadOnlySet<string>? permissions, bool stateful, Func<Task<(HttpClient, Action<HttpRequestMessage>)>> open)
        {
            var caller = new Caller(name, permissions, stateful, open);
            caller.Shared = await open();
            return caller;
        }
    }
}
