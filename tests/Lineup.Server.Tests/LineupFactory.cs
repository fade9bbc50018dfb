using System.Net.Http.Json;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Server.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Lineup.Server.Tests;

/// <summary>
/// The real server (<see cref="Program"/>) over real models and a real SQLite catalog in its own temporary data
/// directory; settings as the operator would give them (<c>Lineup:*</c>). In-memory (TestServer) unless
/// <paramref name="kestrel"/> asks for real sockets, which the request-size limits and the Server header need.
/// </summary>
public sealed class LineupFactory(IReadOnlyDictionary<string, string> settings, bool kestrel, string name) : WebApplicationFactory<Program>
{
    /// <summary>The password of every user the tests create (UserDirectory wants at least 12 characters).</summary>
    public const string Password = "correct horse battery staple";

    public TempDirectory Directory { get; } = new(name);

    public string DataDirectory => Directory.Combine("data");

    public bool IsKestrel => kestrel;

    public LineupEngine Engine => Services.GetRequiredService<LineupEngine>();

    public UserDirectory Users => new(Engine.Users);

    /// <summary>Where clients send requests: http://localhost in memory, the bound loopback port under Kestrel.</summary>
    public Uri BaseAddress => ClientOptions.BaseAddress;

    public void Start()
    {
        if (kestrel)
        {
            UseKestrel();
        }

        StartServer();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // As deployed: no developer exception page, appsettings.json only.
        builder.UseEnvironment("Production");
        builder.UseSetting("Lineup:DataDirectory", DataDirectory);
        builder.UseSetting("Lineup:ModelsDirectory", TestPaths.ModelCache);
        builder.UseSetting("Lineup:Workers", "2");
        // Warnings and errors only: a request-by-request log of hundreds of requests buries the test output.
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        if (kestrel)
        {
            // A free loopback port, so that fixtures running side by side do not collide on the default 5080.
            builder.UseSetting("urls", "http://127.0.0.1:0");
        }

        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }

    /// <summary>A client with no credentials. With <paramref name="cookies"/> it keeps cookies (a browser).</summary>
    public HttpClient NewClient(bool cookies = false) =>
        // Under Kestrel the factory's innermost handler is a plain HttpClientHandler, which keeps cookies itself.
        CreateClient(new WebApplicationFactoryClientOptions
        {
            BaseAddress = BaseAddress,
            AllowAutoRedirect = false,
            HandleCookies = cookies && !kestrel,
        });

    /// <summary>A client that sends <paramref name="key"/> in X-Api-Key with every request.</summary>
    public HttpClient KeyClient(string key)
    {
        var client = NewClient();
        client.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, key);
        return client;
    }

    public async Task<UserAccount> AddUserAsync(string userName, params Role[] roles) =>
        await Users.AddAsync(userName, userName.ToUpperInvariant(), roles, Password);

    /// <summary>
    /// Makes <paramref name="userName"/> (added with <paramref name="roles"/> when missing) cleared for a year and assigned
    /// to case <paramref name="caseNumber"/> (opened for robbery, authorised for a year, when missing). Returns the case id.
    /// </summary>
    public async Task<long> AssignToCaseAsync(string userName, string caseNumber, params Role[] roles)
    {
        if (await Engine.Users.FindUserAsync(userName) is null)
        {
            await AddUserAsync(userName, roles.Length > 0 ? roles : [Role.Analyst]);
        }

        var now = Engine.Options.Clock.GetUtcNow();
        await Engine.Cases.SetClearanceAsync(userName, now.AddYears(1), now.AddYears(1), "tests");
        if (await Engine.Cases.FindCaseAsync(caseNumber) is null)
        {
            await Engine.Cases.OpenCaseAsync(new NewCase(caseNumber, "robbery", "tests", "W-TEST", now.AddYears(1)), "tests");
        }

        return (await Engine.Cases.AssignAsync(caseNumber, userName, "tests")).Id;
    }

    public async Task<string> AddKeyAsync(string userName, string keyName = "tests") =>
        (await Users.CreateApiKeyAsync(userName, keyName)).Secret;

    /// <summary>A user with <paramref name="roles"/> and an API key client for them.</summary>
    public async Task<HttpClient> UserWithKeyAsync(string userName, params Role[] roles)
    {
        await AddUserAsync(userName, roles);
        return KeyClient(await AddKeyAsync(userName));
    }

    /// <summary>Signs in as the UI does: anonymous anti-forgery token, sign-in, then the token bound to the user.</summary>
    public async Task<Session> SignInAsync(string userName, string password = Password)
    {
        var client = NewClient(cookies: true);
        var cookies = new List<string>();
        var anonymous = await AntiforgeryTokenAsync(client, cookies);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/signin")
        {
            Content = JsonContent.Create(new { userName, password }),
        };
        request.Headers.Add(RequestGuards.AntiforgeryHeader, anonymous);
        using var response = await client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"sign-in as {userName}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        cookies.AddRange(SetCookies(response));
        return new Session(userName, client, await AntiforgeryTokenAsync(client, cookies), cookies);
    }

    /// <summary>GET /api/auth/antiforgery: the token (and, into <paramref name="cookies"/>, the cookies it set).</summary>
    public static async Task<string> AntiforgeryTokenAsync(HttpClient client, List<string>? cookies = null)
    {
        using var response = await client.GetAsync("/api/auth/antiforgery");
        var body = await Http.JsonAsync(response);
        cookies?.AddRange(SetCookies(response));
        Assert.Equal(RequestGuards.AntiforgeryHeader, body.GetProperty("headerName").GetString());
        return body.GetProperty("token").GetString()!;
    }

    private static IEnumerable<string> SetCookies(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var set) ? set : [];

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Dispose();
    }
}

/// <summary>A signed-in browser: its cookies live in <see cref="Client"/>; unsafe requests need <see cref="Token"/>.</summary>
/// <param name="SetCookies">The Set-Cookie headers the sign-in received (to replay the session's cookies by hand).</param>
public sealed record Session(string UserName, HttpClient Client, string Token, IReadOnlyList<string> SetCookies)
{
    /// <summary>Sends <paramref name="request"/> with the anti-forgery header, as the UI does for every request.</summary>
    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        request.Headers.Add(RequestGuards.AntiforgeryHeader, Token);
        return Client.SendAsync(request);
    }

    public Task<HttpResponseMessage> PostAsync(string url, HttpContent content) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, url) { Content = content });

    public Task<HttpResponseMessage> GetAsync(string url) => Client.GetAsync(url);

    /// <summary>The session's cookies as one Cookie header, to send from another client (a stolen or kept cookie).</summary>
    public string CookieHeader => string.Join("; ", SetCookies.Select(c => c.Split(';')[0]).Where(c => !c.EndsWith('=')));
}

/// <summary>
/// A class fixture: one server per test class, started once (the models load in a few seconds), with the settings
/// the class needs. Subclasses add settings and seed users or data.
/// </summary>
public abstract class ServerFixture : IAsyncLifetime
{
    private LineupFactory? _factory;

    public LineupFactory Factory => _factory ?? throw new InvalidOperationException("The fixture is not initialised.");

    /// <summary>Files the tests give the server (ingest roots, galleries), outside its data directory.</summary>
    public TempDirectory Scratch { get; } = new("scratch");

    protected virtual string Name => "server";

    protected virtual bool Kestrel => false;

    /// <summary>Extra configuration; sign-ins are not rate limited unless a fixture says so (the tests sign in often).</summary>
    protected virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();

    public async Task InitializeAsync()
    {
        await TestPaths.ModelsAsync();
        var settings = new Dictionary<string, string> { ["Lineup:Server:SignInsPerMinute"] = "10000" };
        foreach (var (key, value) in Settings)
        {
            settings[key] = value;
        }

        _factory = new LineupFactory(settings, Kestrel, Name);
        _factory.Start();
        await SeedAsync(_factory);
    }

    protected virtual Task SeedAsync(LineupFactory factory) => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        Scratch.Dispose();
    }
}

/// <summary>A server with default settings (in memory).</summary>
public sealed class DefaultServer : ServerFixture;
