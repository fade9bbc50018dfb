using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;

namespace Lineup.Storage.Tests;

/// <summary>Changes to users, keys, cases and clearances are audited in their own transaction, as the acting user.</summary>
public sealed class OversightAuditTests : IDisposable
{
    private readonly TempDirectory _dir = new("oversight-audit");

    public void Dispose() => _dir.Dispose();

    private Task<SqliteCatalog> OpenAsync() => SqliteCatalog.OpenAsync(_dir.File("catalog.db"), TestData.Model);

    [Fact]
    public async Task User_key_case_and_clearance_changes_are_audited_with_who_made_them_and_no_secret()
    {
        await using var catalog = await OpenAsync();
        var admin = catalog.ActingAs("root-admin");
        var user = await admin.AddUserAsync("frank", null, [Role.Analyst], "HASH-SECRET-VALUE");
        await admin.SetPasswordHashAsync("frank", "NEW-HASH-SECRET");
        await admin.SetRolesAsync("frank", [Role.Analyst, Role.Reviewer]);
        var key = await admin.AddApiKeyAsync(user.Id, "robot", "lk_abcdef", new byte[32]);
        await admin.RevokeApiKeyAsync(key.Id);
        await admin.DisableUserAsync("frank");
        await admin.EnableUserAsync("frank");
        await catalog.AddUserAsync("gina", null, [Role.Reviewer], null);
        await catalog.SetClearanceAsync("frank", DateTimeOffset.UtcNow.AddDays(9), null, "root-admin");
        await catalog.OpenCaseAsync(new NewCase("K-1", "robbery", "p", "W", DateTimeOffset.UtcNow.AddDays(3)), "sup");
        await catalog.AssignAsync("K-1", "frank", "sup");

        var events = await catalog.ReadEventsAsync(1, 100);
        Assert.Equal(
            ["user.add", "user.password", "user.roles", "apikey.add", "apikey.revoke", "user.disable", "user.enable", "user.add", "user.clearance", "case.open", "case.assign"],
            events.Select(e => e.Details["change"]?.Text));
        Assert.All(events.Take(7), e => Assert.Equal(("root-admin", "user:frank"), (e.Actor, e.Subject)));
        Assert.Equal((SqliteCatalog.SystemActor, "user:gina"), (events[7].Actor, events[7].Subject));
        Assert.Equal("analyst,reviewer", events[2].Details["roles"]?.Text);
        Assert.Equal("none", events[8].Details["training_until"]?.Text);
        Assert.Equal(("sup", "case:K-1"), (events[10].Actor, events[10].Subject));
        Assert.DoesNotContain(events, e => e.Details.ToCanonicalJson().Contains("SECRET", StringComparison.Ordinal));
        Assert.True((await catalog.VerifyAsync(null)).IsIntact);

        // A change that fails leaves neither the change nor its event.
        var size = (await catalog.TreeHeadAsync()).TreeSize;
        await Assert.ThrowsAsync<CatalogException>(() => admin.DisableUserAsync("nobody"));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.AssignAsync("K-1", "nobody", "sup"));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.OpenCaseAsync(new NewCase("k-1", "robbery", "p", "W", DateTimeOffset.UtcNow.AddDays(3)), "sup"));
        Assert.Equal(size, (await catalog.TreeHeadAsync()).TreeSize);
    }

    [Fact]
    public async Task Bad_case_input_is_refused_naming_the_field_and_writes_nothing()
    {
        await using var catalog = await OpenAsync();
        var until = DateTimeOffset.UtcNow.AddDays(3);
        var bad = new (NewCase Case, string Field)[]
        {
            (new NewCase("K-\n1", "robbery", "p", "W", until), "case number"),
            (new NewCase(new string('9', SqliteCatalog.MaxCaseNumberLength + 1), "robbery", "p", "W", until), "case number"),
            (new NewCase("  ", "robbery", "p", "W", until), "case number"),
            (new NewCase("K-2", "robbery", "", "W", until), "purpose"),
            (new NewCase("K-2", "robbery", "p", "W\u0007", until), "authorisation reference"),
        };
        foreach (var (newCase, field) in bad)
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() => catalog.OpenCaseAsync(newCase, "sup"));
            Assert.Contains(field, e.Message, StringComparison.Ordinal);
        }

        await catalog.OpenCaseAsync(new NewCase("K-2", "robbery", "p", "W", until), "sup");
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetLegalHoldAsync("K-2", true, "", "sup"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.ReauthoriseAsync("K-2", "W\r", until, "sup"));
        await Assert.ThrowsAsync<CatalogException>(() => catalog.CloseCaseAsync("K-404", "sup"));
        Assert.Empty(await catalog.ListCasesAsync("nobody"));
        Assert.Equal(["case.open"], (await catalog.ReadEventsAsync(1, 100)).Select(e => e.Details["change"]?.Text));
        Assert.False((await catalog.FindCaseAsync("K-2"))!.LegalHold);
    }
}
