using System.Globalization;
using System.Net;
using Lineup.Core.Security;
using Lineup.Server.Security;

namespace Lineup.Server.Tests;

/// <summary>Three searches a minute per user, three sign-in attempts a minute per client address.</summary>
public sealed class RateLimitedServer : ServerFixture
{
    public const int SearchesPerMinute = 3;

    protected override string Name => "ratelimit";

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Lineup:Server:SearchesPerMinute"] = SearchesPerMinute.ToString(CultureInfo.InvariantCulture),
        ["Lineup:Server:SignInsPerMinute"] = SignInsPerMinute.ToString(CultureInfo.InvariantCulture),
    };

    public const int SignInsPerMinute = 3;
}

/// <summary>Searches are budgeted per user: one user's burst is refused with 429 and Retry-After, another's is not touched.</summary>
public sealed class RateLimitTests(RateLimitedServer server) : IClassFixture<RateLimitedServer>
{
    [Fact]
    public async Task The_fourth_quick_search_of_a_user_is_429_and_another_user_is_unaffected()
    {
        var factory = server.Factory;
        var first = await factory.UserWithKeyAsync("r-first", Role.Analyst);
        var second = await factory.UserWithKeyAsync("r-second", Role.Analyst);
        await factory.AssignToCaseAsync("r-first", Http.TestCase);
        await factory.AssignToCaseAsync("r-second", Http.TestCase);
        var photo = TestImages.Jpeg(96, 64);

        // The budget starts full: the first three searches are served (no face in this photo: 422, but searched).
        for (var i = 0; i < RateLimitedServer.SearchesPerMinute; i++)
        {
            using var served = await first.PostAsync("/api/search", Http.SearchForm(photo));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, served.StatusCode);
        }

        // The fourth is refused. The budget refills one search per 5 s, so on a machine slow enough to take that
        // long for one request a refill could slip in; a few more tries absorb that without hiding a missing limit.
        using var refused = await FirstRefusalAsync(() => first.PostAsync("/api/search", Http.SearchForm(photo)));
        var problem = await Http.ProblemAsync(refused, HttpStatusCode.TooManyRequests, "Too many requests");
        var retryAfter = Assert.Single(refused.Headers.GetValues("Retry-After"));
        var seconds = int.Parse(retryAfter, CultureInfo.InvariantCulture);
        Assert.InRange(seconds, 1, 60);
        Assert.Equal(seconds, problem.GetProperty("retryAfterSeconds").GetInt32());
        Assert.Contains("try again", Http.Detail(problem), StringComparison.Ordinal);

        // The 1:1 comparison and the probe face detection draw on the same budget.
        using (await FirstRefusalAsync(() => first.PostAsync("/api/verify", Http.Form("a", photo))))
        using (await FirstRefusalAsync(() => first.PostAsync("/api/search/faces", Http.Form("photo", photo))))
        {
        }

        // Another user's budget is their own.
        using var other = await second.PostAsync("/api/search", Http.SearchForm(photo));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        await Http.ProblemAsync(other, HttpStatusCode.UnprocessableEntity, "No face in the probe");
    }

    [Fact]
    public async Task Password_guessing_from_one_address_is_cut_off_with_429()
    {
        await server.Factory.AddUserAsync("r-target", Role.Analyst);
        var client = server.Factory.NewClient(cookies: true);
        var token = await LineupFactory.AntiforgeryTokenAsync(client);
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        // The window is a fixed minute: if it turns over during the burst, the next window's budget is used up too.
        for (var attempt = 0; attempt < (2 * RateLimitedServer.SignInsPerMinute) + 1 && refused is null; attempt++)
        {
            var request = Http.PostJson("/api/auth/signin", new { userName = "r-target", password = $"guess number {attempt}" });
            request.Headers.Add(RequestGuards.AntiforgeryHeader, token);
            var response = await client.SendAsync(request);
            statuses.Add(response.StatusCode);
            refused = response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        Assert.True(refused is not null, "no 429: " + string.Join(", ", statuses));
        Assert.All(statuses.Take(RateLimitedServer.SignInsPerMinute), s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        await Http.ProblemAsync(refused, HttpStatusCode.TooManyRequests, "Too many requests");
        Assert.True(refused.Headers.RetryAfter is not null || refused.Headers.Contains("Retry-After"));
    }

    /// <summary>The first 429 among at most three quick tries (a refill of one search per 5 s cannot serve them all).</summary>
    private static async Task<HttpResponseMessage> FirstRefusalAsync(Func<Task<HttpResponseMessage>> send)
    {
        var statuses = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            var response = await send();
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return response;
            }

            statuses.Add((int)response.StatusCode);
            response.Dispose();
        }

        Assert.Fail("no 429 in three tries: " + string.Join(", ", statuses));
        return null!;
    }
}
