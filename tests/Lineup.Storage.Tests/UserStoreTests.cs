using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Security;
using Lineup.Storage.Postgres;

namespace Lineup.Storage.Tests;

/// <summary>Users, roles, security stamps and API keys, on every catalog backend.</summary>
public abstract class UserStoreContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, IAsyncDisposable, IUserStore
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.Parse("2025-03-04T05:06:07.1234567Z");

    private readonly ManualClock _clock = new(s_start);

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private Task<TCatalog> OpenAsync() => Backend.OpenAsync(_clock);

    private static byte[] KeyHash(int seed) => SHA256.HashData(BitConverter.GetBytes(seed));

    [SkippableFact]
    public async Task A_user_is_found_by_name_ignoring_case_and_by_id()
    {
        await using var catalog = await OpenAsync();
        var added = await catalog.AddUserAsync("Alice.Smith@lab", "  Alice Smith ", [Role.Reviewer, Role.Analyst, Role.Analyst], "hash-1");

        Assert.True(added.Id > 0);
        Assert.Equal("Alice.Smith@lab", added.Name);
        Assert.Equal("Alice Smith", added.DisplayName);
        Assert.True(added.Roles.SetEquals([Role.Analyst, Role.Reviewer]));
        Assert.Equal(2, added.Roles.Count);
        Assert.Equal("hash-1", added.PasswordHash);
        Assert.Matches("^[0-9a-f]{32}$", added.SecurityStamp);
        Assert.Equal(s_start, added.CreatedAt);
        Assert.Null(added.DisabledAt);
        Assert.False(added.IsDisabled);

        foreach (var spelling in new[] { "Alice.Smith@lab", "alice.smith@lab", "ALICE.SMITH@LAB" })
        {
            var found = await catalog.FindUserAsync(spelling);
            Assert.NotNull(found);
            Assert.Equal(added.Id, found.Id);
            Assert.Equal("Alice.Smith@lab", found.Name);
            Assert.Equal(added.SecurityStamp, found.SecurityStamp);
            Assert.True(found.Roles.SetEquals(added.Roles));
        }

        var byId = await catalog.GetUserAsync(added.Id);
        Assert.Equal("Alice.Smith@lab", byId?.Name);
        Assert.Null(await catalog.FindUserAsync("alice"));
        Assert.Null(await catalog.GetUserAsync(added.Id + 1));
        Assert.Equal(1, await catalog.CountUsersAsync());
    }

    [SkippableFact]
    public async Task Users_are_listed_by_name_and_a_user_without_a_password_is_allowed()
    {
        await using var catalog = await OpenAsync();
        Assert.Equal(0, await catalog.CountUsersAsync());
        Assert.Empty(await catalog.ListUsersAsync());
        await catalog.AddUserAsync("carol", null, [Role.Auditor], "h");
        await catalog.AddUserAsync("Bob", " ", [Role.Admin], null);
        await catalog.AddUserAsync("alice", null, [Role.Analyst], "h");

        var users = await catalog.ListUsersAsync();
        Assert.Equal(["alice", "Bob", "carol"], users.Select(u => u.Name));
        var bob = users[1];
        Assert.Null(bob.PasswordHash);
        Assert.Null(bob.DisplayName);
        Assert.Equal(3, await catalog.CountUsersAsync());
        Assert.Equal(3, users.Select(u => u.SecurityStamp).Distinct().Count());
    }

    [SkippableFact]
    public async Task A_name_taken_in_another_case_is_refused_and_nothing_is_written()
    {
        await using var catalog = await OpenAsync();
        var first = await catalog.AddUserAsync("dana", null, [Role.Analyst], "h");

        var e = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddUserAsync("DANA", "Other", [Role.Admin], "h2"));
        Assert.Contains("'DANA'", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, await catalog.CountUsersAsync());
        var stored = await catalog.FindUserAsync("dana");
        Assert.Equal(first.Id, stored?.Id);
        Assert.True(stored!.Roles.SetEquals([Role.Analyst]));

        // The catalog stays writable after the refused insert.
        await catalog.AddUserAsync("dana2", null, [Role.Analyst], "h");
        Assert.Equal(2, await catalog.CountUsersAsync());
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData("two words")]
    [InlineData("slash/name")]
    [InlineData("quote'name")]
    [InlineData("comma,name")]
    [InlineData("jürgen")]
    [InlineData("tab\tname")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task Invalid_names_are_refused(string name)
    {
        await using var catalog = await OpenAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddUserAsync(name, null, [Role.Analyst], "h"));
        Assert.Equal("name", e.ParamName);
        Assert.Equal(0, await catalog.CountUsersAsync());
    }

    [SkippableFact]
    public async Task Names_of_up_to_64_letters_digits_and_punctuation_are_accepted()
    {
        await using var catalog = await OpenAsync();
        var longest = new string('x', UserNames.MaxLength);
        Assert.Equal(64, longest.Length);
        await catalog.AddUserAsync(longest, null, [Role.Analyst], "h");
        await catalog.AddUserAsync("a", null, [Role.Analyst], "h");
        await catalog.AddUserAsync("first.last_2-b@unit.example", null, [Role.Analyst], "h");
        Assert.Equal(3, await catalog.CountUsersAsync());
        Assert.NotNull(await catalog.FindUserAsync(longest.ToUpperInvariant()));
    }

    [SkippableFact]
    public async Task Renewing_the_stamp_changes_it_and_nothing_else()
    {
        await using var catalog = await OpenAsync();
        var added = await catalog.AddUserAsync("rena", "Rena", [Role.Reviewer], "hash");
        var renewed = await catalog.RenewSecurityStampAsync("RENA");
        Assert.NotEqual(added.SecurityStamp, renewed.SecurityStamp);
        Assert.Equal(added with { SecurityStamp = renewed.SecurityStamp, Roles = renewed.Roles }, renewed);
        Assert.Equal(added.Roles, renewed.Roles);
        await Assert.ThrowsAsync<CatalogException>(() => catalog.RenewSecurityStampAsync("nobody"));
    }

    [SkippableFact]
    public async Task A_user_needs_at_least_one_known_role()
    {
        await using var catalog = await OpenAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddUserAsync("erin", null, [], "h"));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddUserAsync("erin", null, [(Role)99], "h"));
        Assert.Equal(0, await catalog.CountUsersAsync());

        await catalog.AddUserAsync("erin", null, [Role.Analyst], "h");
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetRolesAsync("erin", []));
        Assert.True((await catalog.FindUserAsync("erin"))!.Roles.SetEquals([Role.Analyst]));
    }

    [SkippableFact]
    public async Task An_unknown_role_in_the_catalog_is_reported_as_a_catalog_error()
    {
        await using (var catalog = await OpenAsync())
        {
            await catalog.AddUserAsync("frank", null, [Role.Analyst], "h");
        }

        Assert.Equal(1, await BackendSql.ExecuteAsync(Backend, "UPDATE users SET roles = 'analyst,janitor'"));

        await using var reopened = await OpenAsync();
        var e = await Assert.ThrowsAsync<CatalogException>(() => reopened.FindUserAsync("frank"));
        Assert.Contains("janitor", e.Message, StringComparison.Ordinal);
        Assert.Contains("frank", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Disabling_sets_the_time_once_and_changes_the_stamp_each_time_enabling_clears_it()
    {
        await using var catalog = await OpenAsync();
        var added = await catalog.AddUserAsync("gina", null, [Role.Analyst], "h");

        _clock.Advance(TimeSpan.FromMinutes(5));
        var disabled = await catalog.DisableUserAsync("GINA");
        Assert.True(disabled.IsDisabled);
        Assert.Equal(s_start.AddMinutes(5), disabled.DisabledAt);
        Assert.NotEqual(added.SecurityStamp, disabled.SecurityStamp);
        Assert.Equal("h", disabled.PasswordHash);

        _clock.Advance(TimeSpan.FromMinutes(5));
        var again = await catalog.DisableUserAsync("gina");
        Assert.Equal(s_start.AddMinutes(5), again.DisabledAt);
        Assert.NotEqual(disabled.SecurityStamp, again.SecurityStamp);

        var found = await catalog.FindUserAsync("gina");
        Assert.Equal(again.SecurityStamp, found!.SecurityStamp);
        Assert.True(found.IsDisabled);

        var enabled = await catalog.EnableUserAsync("gina");
        Assert.False(enabled.IsDisabled);
        Assert.Null(enabled.DisabledAt);
        Assert.NotEqual(again.SecurityStamp, enabled.SecurityStamp);
        Assert.NotEqual(added.SecurityStamp, enabled.SecurityStamp);
        Assert.False((await catalog.FindUserAsync("gina"))!.IsDisabled);
    }

    [SkippableFact]
    public async Task Changing_the_password_or_the_roles_changes_the_stamp_and_leaves_other_users_alone()
    {
        await using var catalog = await OpenAsync();
        var hank = await catalog.AddUserAsync("hank", "Hank", [Role.Analyst], "old-hash");
        var ida = await catalog.AddUserAsync("ida", null, [Role.Admin], "ida-hash");

        var changed = await catalog.SetPasswordHashAsync("Hank", "new-hash");
        Assert.Equal("new-hash", changed.PasswordHash);
        Assert.NotEqual(hank.SecurityStamp, changed.SecurityStamp);
        Assert.Equal("Hank", changed.DisplayName);
        Assert.True(changed.Roles.SetEquals([Role.Analyst]));

        var promoted = await catalog.SetRolesAsync("hank", [Role.Supervisor, Role.Reviewer]);
        Assert.True(promoted.Roles.SetEquals([Role.Reviewer, Role.Supervisor]));
        Assert.NotEqual(changed.SecurityStamp, promoted.SecurityStamp);
        Assert.Equal("new-hash", promoted.PasswordHash);

        var idaNow = await catalog.FindUserAsync("ida");
        Assert.Equal(ida.SecurityStamp, idaNow!.SecurityStamp);
        Assert.Equal("ida-hash", idaNow.PasswordHash);

        await Assert.ThrowsAsync<ArgumentException>(() => catalog.SetPasswordHashAsync("hank", " "));
        Assert.Equal("new-hash", (await catalog.FindUserAsync("hank"))!.PasswordHash);
    }

    [SkippableFact]
    public async Task Changes_to_an_unknown_user_throw_a_catalog_error_naming_it()
    {
        await using var catalog = await OpenAsync();
        await catalog.AddUserAsync("jack", null, [Role.Analyst], "h");
        var stamp = (await catalog.FindUserAsync("jack"))!.SecurityStamp;

        var attempts = new Func<Task>[]
        {
            () => catalog.SetPasswordHashAsync("nobody", "h"),
            () => catalog.SetRolesAsync("nobody", [Role.Admin]),
            () => catalog.DisableUserAsync("nobody"),
            () => catalog.EnableUserAsync("nobody"),
        };
        foreach (var attempt in attempts)
        {
            var e = await Assert.ThrowsAsync<CatalogException>(attempt);
            Assert.Contains("'nobody'", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(stamp, (await catalog.FindUserAsync("jack"))!.SecurityStamp);
        Assert.Equal(1, await catalog.CountUsersAsync());
    }

    [SkippableFact]
    public async Task An_api_key_is_found_by_its_hash_with_its_user_and_stays_findable_when_revoked()
    {
        await using var catalog = await OpenAsync();
        var kim = await catalog.AddUserAsync("kim", null, [Role.Analyst], null);
        var lee = await catalog.AddUserAsync("lee", null, [Role.Admin], "h");

        var key = await catalog.AddApiKeyAsync(kim.Id, "ingest job", "lk_ab12", KeyHash(1));
        _clock.Advance(TimeSpan.FromSeconds(1));
        var second = await catalog.AddApiKeyAsync(kim.Id, "dashboard", "lk_cd34", KeyHash(2));
        await catalog.AddApiKeyAsync(lee.Id, "lee's", "lk_ef56", KeyHash(3));

        Assert.Equal(kim.Id, key.UserId);
        Assert.Equal("ingest job", key.Name);
        Assert.Equal("lk_ab12", key.Prefix);
        Assert.Equal(s_start, key.CreatedAt);
        Assert.Null(key.LastUsedAt);
        Assert.False(key.IsRevoked);

        var found = await catalog.FindApiKeyAsync(KeyHash(1));
        Assert.NotNull(found);
        Assert.Equal(key, found.Value.Key);
        Assert.Equal(kim.Id, found.Value.User.Id);
        Assert.Equal("kim", found.Value.User.Name);
        Assert.Equal(kim.SecurityStamp, found.Value.User.SecurityStamp);
        Assert.Equal(second.Id, (await catalog.FindApiKeyAsync(KeyHash(2)))?.Key.Id);
        Assert.Equal(lee.Id, (await catalog.FindApiKeyAsync(KeyHash(3)))?.User.Id);
        Assert.Null(await catalog.FindApiKeyAsync(KeyHash(4)));

        Assert.Equal([key.Id, second.Id], (await catalog.ListApiKeysAsync(kim.Id)).Select(k => k.Id));
        Assert.Single(await catalog.ListApiKeysAsync(lee.Id));
        Assert.Empty(await catalog.ListApiKeysAsync(lee.Id + 100));

        _clock.Advance(TimeSpan.FromMinutes(1));
        await catalog.RevokeApiKeyAsync(key.Id);
        _clock.Advance(TimeSpan.FromMinutes(1));
        await catalog.RevokeApiKeyAsync(key.Id);
        var revoked = await catalog.FindApiKeyAsync(KeyHash(1));
        Assert.True(revoked!.Value.Key.IsRevoked);
        Assert.Equal(s_start.AddSeconds(61), revoked.Value.Key.RevokedAt);
        Assert.False((await catalog.FindApiKeyAsync(KeyHash(2)))!.Value.Key.IsRevoked);

        await catalog.DisableUserAsync("kim");
        var ofDisabled = await catalog.FindApiKeyAsync(KeyHash(2));
        Assert.True(ofDisabled!.Value.User.IsDisabled);
    }

    [SkippableFact]
    public async Task Invalid_api_key_writes_are_refused()
    {
        await using var catalog = await OpenAsync();
        var user = await catalog.AddUserAsync("mia", null, [Role.Analyst], "h");
        await catalog.AddApiKeyAsync(user.Id, "first", "lk_1", KeyHash(1));

        var duplicate = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddApiKeyAsync(user.Id, "again", "lk_1", KeyHash(1)));
        Assert.Contains("SHA-256", duplicate.Message, StringComparison.Ordinal);
        var noUser = await Assert.ThrowsAsync<CatalogException>(() => catalog.AddApiKeyAsync(user.Id + 7, "k", "lk_2", KeyHash(2)));
        Assert.Contains($"{user.Id + 7}", noUser.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddApiKeyAsync(user.Id, "k", "lk_3", new byte[31]));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.AddApiKeyAsync(user.Id, " ", "lk_3", KeyHash(3)));
        await Assert.ThrowsAsync<ArgumentException>(() => catalog.FindApiKeyAsync(new byte[16]));

        var revoke = await Assert.ThrowsAsync<CatalogException>(() => catalog.RevokeApiKeyAsync(999));
        Assert.Contains("999", revoke.Message, StringComparison.Ordinal);
        var touch = await Assert.ThrowsAsync<CatalogException>(() => catalog.TouchApiKeyAsync(999));
        Assert.Contains("999", touch.Message, StringComparison.Ordinal);

        Assert.Single(await catalog.ListApiKeysAsync(user.Id));
    }

    [SkippableFact]
    public async Task Touching_a_key_writes_its_last_use_at_most_once_a_minute()
    {
        await using var catalog = await OpenAsync();
        var user = await catalog.AddUserAsync("nat", null, [Role.Analyst], "h");
        var key = await catalog.AddApiKeyAsync(user.Id, "k", "lk_1", KeyHash(1));
        var other = await catalog.AddApiKeyAsync(user.Id, "k2", "lk_2", KeyHash(2));

        async Task<DateTimeOffset?> LastUsedAsync(long id) =>
            (await catalog.ListApiKeysAsync(user.Id)).Single(k => k.Id == id).LastUsedAt;

        await catalog.TouchApiKeyAsync(key.Id);
        Assert.Equal(s_start, await LastUsedAsync(key.Id));
        Assert.Null(await LastUsedAsync(other.Id));

        _clock.Advance(TimeSpan.FromSeconds(30));
        await catalog.TouchApiKeyAsync(key.Id);
        await catalog.TouchApiKeyAsync(other.Id);
        Assert.Equal(s_start, await LastUsedAsync(key.Id));
        Assert.Equal(s_start.AddSeconds(30), await LastUsedAsync(other.Id));

        _clock.Advance(TimeSpan.FromSeconds(29.9));
        await catalog.TouchApiKeyAsync(key.Id);
        Assert.Equal(s_start, await LastUsedAsync(key.Id));

        _clock.Advance(TimeSpan.FromSeconds(0.1));
        await catalog.TouchApiKeyAsync(key.Id);
        Assert.Equal(s_start.AddSeconds(60), await LastUsedAsync(key.Id));

        // A clock set back must not leave the last use in the future for an hour.
        _clock.Advance(TimeSpan.FromHours(-1));
        await catalog.TouchApiKeyAsync(key.Id);
        Assert.Equal(s_start.AddSeconds(60).AddHours(-1), await LastUsedAsync(key.Id));
        Assert.Equal(s_start.AddSeconds(30), await LastUsedAsync(other.Id));
    }

    [SkippableFact]
    public async Task Reopening_the_catalog_keeps_users_and_keys()
    {
        UserAccount olga, pat;
        ApiKeyRecord revoked, used;
        await using (var catalog = await OpenAsync())
        {
            await catalog.AddUserAsync("olga", "Olga O.", [Role.Supervisor, Role.Auditor], "olga-hash");
            pat = await catalog.AddUserAsync("pat", null, [Role.Admin], null);
            _clock.Advance(TimeSpan.FromSeconds(3));
            olga = await catalog.DisableUserAsync("olga");
            revoked = await catalog.AddApiKeyAsync(pat.Id, "old", "lk_old", KeyHash(10));
            used = await catalog.AddApiKeyAsync(pat.Id, "new", "lk_new", KeyHash(11));
            _clock.Advance(TimeSpan.FromSeconds(2));
            await catalog.RevokeApiKeyAsync(revoked.Id);
            await catalog.TouchApiKeyAsync(used.Id);
        }

        await using var reopened = await OpenAsync();
        Assert.Equal(2, await reopened.CountUsersAsync());

        var olgaNow = await reopened.FindUserAsync("OLGA");
        Assert.NotNull(olgaNow);
        Assert.Equal(olga.Id, olgaNow.Id);
        Assert.Equal("Olga O.", olgaNow.DisplayName);
        Assert.True(olgaNow.Roles.SetEquals([Role.Auditor, Role.Supervisor]));
        Assert.Equal("olga-hash", olgaNow.PasswordHash);
        Assert.Equal(olga.SecurityStamp, olgaNow.SecurityStamp);
        Assert.Equal(s_start, olgaNow.CreatedAt);
        Assert.Equal(s_start.AddSeconds(3), olgaNow.DisabledAt);

        var patNow = await reopened.GetUserAsync(pat.Id);
        Assert.Equal(pat.SecurityStamp, patNow!.SecurityStamp);
        Assert.Null(patNow.PasswordHash);

        var keys = await reopened.ListApiKeysAsync(pat.Id);
        Assert.Equal(["old", "new"], keys.Select(k => k.Name));
        Assert.Equal(s_start.AddSeconds(5), keys[0].RevokedAt);
        Assert.Null(keys[0].LastUsedAt);
        Assert.Null(keys[1].RevokedAt);
        Assert.Equal(s_start.AddSeconds(5), keys[1].LastUsedAt);
        Assert.Equal(used.Id, (await reopened.FindApiKeyAsync(KeyHash(11)))?.Key.Id);
    }

    [SkippableFact]
    public async Task Two_catalogs_adding_the_same_name_at_once_admit_exactly_one()
    {
        // Two catalogs are two connection pools: on PostgreSQL two servers' worth of writers, on SQLite two processes.
        await using var first = await OpenAsync();
        await using var second = await OpenAsync();
        for (var round = 0; round < 10; round++)
        {
            var name = $"racer{round}";
            var attempts = await Task.WhenAll(
                AttemptAsync(() => first.AddUserAsync(name, null, [Role.Analyst], "h1")),
                AttemptAsync(() => second.AddUserAsync(name.ToUpperInvariant(), null, [Role.Admin], "h2")));

            Assert.Single(attempts, a => a.User is not null);
            var refusal = Assert.Single(attempts, a => a.Error is not null).Error;
            Assert.IsType<CatalogException>(refusal);
            Assert.Contains("already exists", refusal!.Message, StringComparison.Ordinal);
            var winner = attempts.Single(a => a.User is not null).User!;
            var stored = await first.FindUserAsync(name);
            Assert.Equal(winner.Id, stored?.Id);
            Assert.Equal(winner.SecurityStamp, stored!.SecurityStamp);
        }

        Assert.Equal(10, await second.CountUsersAsync());
    }

    private static async Task<(UserAccount? User, Exception? Error)> AttemptAsync(Func<Task<UserAccount>> add)
    {
        try
        {
            return (await add(), null);
        }
        catch (Exception ex)
        {
            return (null, ex);
        }
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

public sealed class SqliteUserStoreTests() : UserStoreContract<SqliteCatalog>(new SqliteBackend());

public sealed class PostgresUserStoreTests() : UserStoreContract<PostgresCatalog>(new PostgresBackend());

/// <summary>Role names as stored and typed (no catalog involved).</summary>
public sealed class RoleListTests
{
    [Fact]
    public void Role_lists_parse_ignoring_case_and_name_the_unknown_role()
    {
        Assert.Equal(5, Roles.All.Count);
        Assert.Equal(["analyst", "reviewer", "supervisor", "auditor", "admin"], Roles.All.Select(Roles.Name));

        var parsed = Roles.ParseList(" Analyst,ADMIN ,, analyst");
        Assert.True(parsed.SetEquals([Role.Analyst, Role.Admin]));
        Assert.Equal(2, parsed.Count);
        Assert.Empty(Roles.ParseList(""));
        Assert.Equal("analyst,admin", Roles.Format([Role.Admin, Role.Analyst, Role.Admin]));
        Assert.True(Roles.ParseList(Roles.Format(Roles.All)).SetEquals(Roles.All));

        var e = Assert.Throws<ArgumentException>(() => Roles.ParseList("analyst,overlord"));
        Assert.Contains("'overlord'", e.Message, StringComparison.Ordinal);

        Assert.True(Roles.TryParse("SuperVisor", out var supervisor));
        Assert.Equal(Role.Supervisor, supervisor);
        Assert.False(Roles.TryParse("4", out _));
        Assert.False(Roles.TryParse("Admin ", out _));
        Assert.False(Roles.TryParse(null, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => Roles.Name((Role)5));
    }
}
