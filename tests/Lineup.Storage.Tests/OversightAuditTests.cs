using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>Changes to users, keys, cases and clearances are audited in their own transaction, as the acting user, on every backend.</summary>
public abstract class OversightAuditContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, IAsyncDisposable, IUserStore, ICaseStore, IAuditLog
{
    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private Task<TCatalog> OpenAsync() => Backend.OpenAsync();

    [SkippableFact]
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

    [SkippableFact]
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

    [SkippableFact]
    public async Task Two_catalogs_opening_the_same_case_number_at_once_open_it_once()
    {
        await using var first = await OpenAsync();
        await using var second = await OpenAsync();
        var until = DateTimeOffset.UtcNow.AddDays(3);
        for (var round = 0; round < 10; round++)
        {
            var number = $"R-{round}";
            var attempts = await Task.WhenAll(
                AttemptAsync(() => first.OpenCaseAsync(new NewCase(number, "robbery", "first", "W1", until), "sup1")),
                AttemptAsync(() => second.OpenCaseAsync(new NewCase(number.ToLowerInvariant(), "fraud", "second", "W2", until), "sup2")));

            var winner = Assert.Single(attempts, a => a.Value is not null).Value!;
            var refusal = Assert.Single(attempts, a => a.Error is not null).Error;
            Assert.IsType<CatalogException>(refusal);
            Assert.Contains("already exists", refusal!.Message, StringComparison.Ordinal);
            Assert.Equal(winner.Id, (await second.FindCaseAsync(number))?.Id);
        }

        Assert.Equal(10, (await first.ListCasesAsync()).Count);

        // The loser's audit event rolled back with its insert: one case.open per case, each naming the winner's offence.
        var opens = (await first.ReadEventsAsync(1, 100)).Where(e => e.Details["change"]?.Text == "case.open").ToList();
        Assert.Equal(10, opens.Count);
        Assert.Equal(10, opens.Select(e => e.Subject.ToUpperInvariant()).Distinct().Count());
        foreach (var found in await first.ListCasesAsync())
        {
            var open = Assert.Single(opens, e => e.Subject == $"case:{found.Number}");
            Assert.Equal(found.Offence, open.Details["offence"]?.Text);
            Assert.Equal(found.CreatedBy, open.Actor);
        }

        Assert.True((await first.VerifyAsync(null)).IsIntact);
    }

    [SkippableFact]
    public async Task Concurrent_assignment_changes_leave_the_case_as_its_last_audit_event_says()
    {
        // An assignment and an unassignment of the same user, from two catalogs at once, round after round: whichever
        // order they take, the case must end as the later of its two audit events says (the log is the record of who
        // could see the case). On PostgreSQL without the case's row lock, 25 of 200 such rounds disagreed (measured), so
        // 50 rounds catch a missing lock all but about once in a thousand runs.
        await using var first = await OpenAsync();
        await using var second = await OpenAsync();
        await first.AddUserAsync("frank", null, [Role.Analyst], null);
        await first.OpenCaseAsync(new NewCase("K-9", "robbery", "p", "W", DateTimeOffset.UtcNow.AddDays(3)), "sup");
        for (var round = 0; round < 50; round++)
        {
            await Task.WhenAll(
                Task.Run(() => first.AssignAsync("K-9", "frank", "sup1")),
                Task.Run(() => second.UnassignAsync("k-9", "FRANK", "sup2")));

            var events = await first.ReadEventsAsync(1, 1000);
            var last = events.Last(e => e.Subject == "case:K-9").Details["change"]?.Text;
            var assigned = (await second.FindCaseAsync("K-9"))!.IsAssigned("frank");
            Assert.True(
                assigned == (last == "case.assign"),
                $"Round {round}: the case is {(assigned ? "" : "not ")}assigned but its last event is {last}.");
        }

        var changes = (await first.ReadEventsAsync(1, 1000)).Where(e => e.Subject == "case:K-9").ToList();
        Assert.Equal(101, changes.Count);
        Assert.True((await first.VerifyAsync(null)).IsIntact);
    }

    private static async Task<(CaseRecord? Value, Exception? Error)> AttemptAsync(Func<Task<CaseRecord>> open)
    {
        try
        {
            return (await open(), null);
        }
        catch (Exception ex)
        {
            return (null, ex);
        }
    }
}

public sealed class SqliteOversightAuditTests() : OversightAuditContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresOversightAuditTests() : OversightAuditContract<PostgresCatalog>(new PostgresBackend());
