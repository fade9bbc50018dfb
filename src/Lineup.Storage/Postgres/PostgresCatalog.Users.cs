using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Security;
using Npgsql;

namespace Lineup.Storage.Postgres;

/// <summary>Users and API keys (<see cref="IUserStore"/>), as <see cref="SqliteCatalog"/> keeps them.</summary>
/// <remarks>
/// Names are unique ignoring case through the unique index on <c>lower(name)</c>, so every lookup compares
/// <c>lower(name) = lower(@key)</c> (which uses that index). Each change is one statement on the user's row
/// (<c>UPDATE … RETURNING</c>): the row lock it takes orders concurrent changes to one user, and the audit event is
/// appended after it in the same transaction, so the log lists the changes in the order they took effect.
/// </remarks>
public sealed partial class PostgresCatalog : IUserStore
{
    /// <summary>Who changes users when the caller does not say (<see cref="ActingAs"/>), as in SQLite.</summary>
    public const string SystemActor = SqliteCatalog.SystemActor;

    private const string UserColumns =
        "u.id, u.name, u.display_name, u.roles, u.password_hash, u.security_stamp, u.created_at, u.disabled_at, u.nda_until, u.training_until";

    private const string ApiKeyColumns = "k.id, k.user_id, k.name, k.prefix, k.created_at, k.last_used_at, k.revoked_at";

    private const int ApiKeyColumnCount = 7;

    public IUserStore ActingAs(string actor)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        return new PostgresUserStoreActingAs(this, actor);
    }

    public Task<UserAccount> AddUserAsync(string name, string? displayName, IReadOnlyCollection<Role> roles, string? passwordHash, CancellationToken ct = default) =>
        AddUserAsync(name, displayName, roles, passwordHash, SystemActor, ct);

    internal async Task<UserAccount> AddUserAsync(
        string name, string? displayName, IReadOnlyCollection<Role> roles, string? passwordHash, string actor, CancellationToken ct)
    {
        if (!UserNames.IsValid(name))
        {
            throw new ArgumentException(
                $"User name '{name}' is not valid: use 1 to {UserNames.MaxLength} ASCII letters, digits and . _ - @.", nameof(name));
        }

        var roleText = SqliteCatalog.FormatRoles(roles);
        if (passwordHash is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(passwordHash);
        }

        displayName = string.IsNullOrWhiteSpace(displayName) ? null : displayName.Trim();
        try
        {
            return await WriteAsync(async (connection, tx) =>
            {
                // Two processes adding "Ann" and "ANN" at once: the second insert waits on the first's index entry
                // and fails with a unique violation once it commits, so exactly one user exists.
                await using var insert = new NpgsqlCommand(
                    $"""
                    INSERT INTO users AS u (name, display_name, roles, password_hash, security_stamp, created_at)
                    VALUES (@name, @display, @roles, @hash, @stamp, @created) RETURNING {UserColumns}
                    """, connection, tx);
                insert.Parameters.AddWithValue("name", name);
                insert.Parameters.AddWithValue("display", (object?)displayName ?? DBNull.Value);
                insert.Parameters.AddWithValue("roles", roleText);
                insert.Parameters.AddWithValue("hash", (object?)passwordHash ?? DBNull.Value);
                insert.Parameters.AddWithValue("stamp", SqliteCatalog.NewSecurityStamp());
                insert.Parameters.AddWithValue("created", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
                var added = (await ReadOneUserAsync(insert, ct).ConfigureAwait(false))!;
                await AppendAuditAsync(connection, tx, UserEvent(actor, name, "user.add").With("roles", roleText), ct).ConfigureAwait(false);
                return added;
            }, ct).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new CatalogException($"A user named '{name}' already exists (names are compared ignoring case).", ex);
        }
    }

    public async Task<UserAccount?> FindUserAsync(string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadUserAsync(connection, null, "lower(u.name) = lower(@key)", name, ct).ConfigureAwait(false);
    }

    public async Task<UserAccount?> GetUserAsync(long id, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await ReadUserAsync(connection, null, "u.id = @key", id, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<UserAccount>> ListUsersAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);

        // SQLite orders the NOCASE column by its ASCII-lowered bytes; lower() under the "C" collation is that order
        // whatever collation the database was created with.
        await using var command = new NpgsqlCommand($"SELECT {UserColumns} FROM users u ORDER BY lower(u.name) COLLATE \"C\", u.id", connection);
        var users = new List<UserAccount>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            users.Add(ReadUser(reader, 0));
        }

        return users;
    }

    public async Task<long> CountUsersAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM users", connection);
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    public Task<UserAccount> SetPasswordHashAsync(string name, string passwordHash, CancellationToken ct = default) =>
        SetPasswordHashAsync(name, passwordHash, SystemActor, ct);

    internal async Task<UserAccount> SetPasswordHashAsync(string name, string passwordHash, string actor, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(passwordHash);
        return await UpdateUserAsync(name, "password_hash = @value", passwordHash, actor, "user.password", ct).ConfigureAwait(false);
    }

    public Task<UserAccount> SetRolesAsync(string name, IReadOnlyCollection<Role> roles, CancellationToken ct = default) =>
        SetRolesAsync(name, roles, SystemActor, ct);

    internal async Task<UserAccount> SetRolesAsync(string name, IReadOnlyCollection<Role> roles, string actor, CancellationToken ct)
    {
        var roleText = SqliteCatalog.FormatRoles(roles);
        return await UpdateUserAsync(name, "roles = @value", roleText, actor, "user.roles", ct).ConfigureAwait(false);
    }

    public Task<UserAccount> DisableUserAsync(string name, CancellationToken ct = default) => DisableUserAsync(name, SystemActor, ct);

    internal async Task<UserAccount> DisableUserAsync(string name, string actor, CancellationToken ct) =>
        await UpdateUserAsync(name, "disabled_at = coalesce(u.disabled_at, @value)", SqliteCatalog.FormatTime(_clock.GetUtcNow()), actor, "user.disable", ct)
            .ConfigureAwait(false);

    public Task<UserAccount> RenewSecurityStampAsync(string name, CancellationToken ct = default) => RenewSecurityStampAsync(name, SystemActor, ct);

    internal async Task<UserAccount> RenewSecurityStampAsync(string name, string actor, CancellationToken ct) =>
        await UpdateUserAsync(name, null, null, actor, "user.sessions-ended", ct).ConfigureAwait(false);

    public Task<UserAccount> EnableUserAsync(string name, CancellationToken ct = default) => EnableUserAsync(name, SystemActor, ct);

    internal async Task<UserAccount> EnableUserAsync(string name, string actor, CancellationToken ct) =>
        await UpdateUserAsync(name, "disabled_at = NULL", null, actor, "user.enable", ct).ConfigureAwait(false);

    public Task<ApiKeyRecord> AddApiKeyAsync(long userId, string name, string prefix, byte[] keySha256, CancellationToken ct = default) =>
        AddApiKeyAsync(userId, name, prefix, keySha256, SystemActor, ct);

    internal async Task<ApiKeyRecord> AddApiKeyAsync(long userId, string name, string prefix, byte[] keySha256, string actor, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        SqliteCatalog.RequireKeyHash(keySha256);
        try
        {
            return await WriteAsync(async (connection, tx) =>
            {
                // Checked here rather than left to the foreign key, whose error does not say which user was missing.
                var owner = await ReadUserAsync(connection, tx, "u.id = @key", userId, ct).ConfigureAwait(false)
                    ?? throw new CatalogException($"User {userId} does not exist.");

                // The key before its audit event (SQLite appends first; under its single writer the order is free):
                // the event locks the audit tree until commit, and a key insert waiting on another transaction's
                // equal hash while holding that lock would stall every audited write in the meantime.
                await using var insert = new NpgsqlCommand(
                    $"""
                    INSERT INTO api_keys AS k (user_id, name, prefix, key_sha256, created_at)
                    VALUES (@user, @name, @prefix, @sha, @created) RETURNING {ApiKeyColumns}
                    """, connection, tx);
                insert.Parameters.AddWithValue("user", userId);
                insert.Parameters.AddWithValue("name", name.Trim());
                insert.Parameters.AddWithValue("prefix", prefix);
                insert.Parameters.AddWithValue("sha", keySha256);
                insert.Parameters.AddWithValue("created", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
                ApiKeyRecord key;
                await using (var reader = await insert.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    await reader.ReadAsync(ct).ConfigureAwait(false);
                    key = ReadApiKey(reader, 0);
                }

                await AppendAuditAsync(connection, tx, UserEvent(actor, owner.Name, "apikey.add").With("key", prefix), ct).ConfigureAwait(false);
                return key;
            }, ct).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new CatalogException("An API key with the same SHA-256 is already stored; generate a new key.", ex);
        }
    }

    public async Task<(ApiKeyRecord Key, UserAccount User)?> FindApiKeyAsync(byte[] keySha256, CancellationToken ct = default)
    {
        SqliteCatalog.RequireKeyHash(keySha256);
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            $"""
            SELECT {ApiKeyColumns}, {UserColumns}
            FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.key_sha256 = @sha
            """, connection);
        command.Parameters.AddWithValue("sha", keySha256);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false)
            ? (ReadApiKey(reader, 0), ReadUser(reader, ApiKeyColumnCount))
            : null;
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(long userId, CancellationToken ct = default)
    {
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"SELECT {ApiKeyColumns} FROM api_keys k WHERE k.user_id = @user ORDER BY k.id", connection);
        command.Parameters.AddWithValue("user", userId);
        var keys = new List<ApiKeyRecord>();
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            keys.Add(ReadApiKey(reader, 0));
        }

        return keys;
    }

    public Task RevokeApiKeyAsync(long keyId, CancellationToken ct = default) => RevokeApiKeyAsync(keyId, SystemActor, ct);

    internal async Task RevokeApiKeyAsync(long keyId, string actor, CancellationToken ct) =>
        await WriteAsync(async (connection, tx) =>
        {
            string owner, prefix;
            await using (var update = new NpgsqlCommand(
                """
                UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, @now) FROM users u
                WHERE k.id = @id AND u.id = k.user_id RETURNING u.name, k.prefix
                """, connection, tx))
            {
                update.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(_clock.GetUtcNow()));
                update.Parameters.AddWithValue("id", keyId);
                await using var reader = await update.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    throw new CatalogException($"API key {keyId} does not exist.");
                }

                (owner, prefix) = (reader.GetString(0), reader.GetString(1));
            }

            await AppendAuditAsync(connection, tx, UserEvent(actor, owner, "apikey.revoke").With("key", prefix), ct).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);

    public async Task TouchApiKeyAsync(long keyId, CancellationToken ct = default)
    {
        var now = _clock.GetUtcNow();

        // One statement: the update writes (and locks the row) only when the last use is a minute old, or in the
        // future because the clock was set back; within the minute, which is almost every call under load, nothing
        // is written. The outer SELECT tells an unknown key from one that was not due.
        await using var connection = await OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            """
            WITH touched AS (
                UPDATE api_keys SET last_used_at = @now
                WHERE id = @id AND (last_used_at IS NULL OR last_used_at <= @due OR last_used_at > @now)
                RETURNING id)
            SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = @id)
            """, connection);
        command.Parameters.AddWithValue("now", SqliteCatalog.FormatTime(now));
        command.Parameters.AddWithValue("due", SqliteCatalog.FormatTime(now - SqliteCatalog.ApiKeyTouchInterval));
        command.Parameters.AddWithValue("id", keyId);
        if (!(bool)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
        {
            throw new CatalogException($"API key {keyId} does not exist.");
        }
    }

    /// <summary>
    /// Sets one column of the named user (<paramref name="assignment"/>, null: none) together with a new security
    /// stamp, in one statement; returns the user as stored and audits the change after it.
    /// </summary>
    private async Task<UserAccount> UpdateUserAsync(string name, string? assignment, object? value, string actor, string change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(name);
        return await WriteAsync(async (connection, tx) =>
        {
            var set = assignment is null ? "security_stamp = @stamp" : $"{assignment}, security_stamp = @stamp";
            await using var update = new NpgsqlCommand(
                $"UPDATE users u SET {set} WHERE lower(u.name) = lower(@name) RETURNING {UserColumns}", connection, tx);
            if (value is not null)
            {
                update.Parameters.AddWithValue("value", value);
            }

            update.Parameters.AddWithValue("stamp", SqliteCatalog.NewSecurityStamp());
            update.Parameters.AddWithValue("name", name);
            var user = await ReadOneUserAsync(update, ct).ConfigureAwait(false)
                ?? throw new CatalogException($"There is no user named '{name}'.");
            var details = UserEvent(actor, user.Name, change);
            await AppendAuditAsync(connection, tx, change == "user.roles" ? details.With("roles", Roles.Format(user.Roles)) : details, ct)
                .ConfigureAwait(false);
            return user;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>An audit event of a change to a user or their keys; never a password, hash or key.</summary>
    private static UserEventBuilder UserEvent(string actor, string userName, string change) => new(actor, userName, AuditDetails.Empty.With("change", change));

    private readonly record struct UserEventBuilder(string Actor, string UserName, AuditDetails Details)
    {
        public UserEventBuilder With(string key, string value) => this with { Details = Details.With(key, value) };

        public static implicit operator NewAuditEvent(UserEventBuilder e) => new(e.Actor, AuditActions.Admin, $"user:{e.UserName}", e.Details);
    }

    /// <summary>The user matching <paramref name="condition"/> (on alias <c>u</c>, parameter <c>@key</c>), or null.</summary>
    private static async Task<UserAccount?> ReadUserAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string condition, object key, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT {UserColumns} FROM users u WHERE {condition}", connection, tx);
        command.Parameters.AddWithValue("key", key);
        return await ReadOneUserAsync(command, ct).ConfigureAwait(false);
    }

    /// <summary>The user of a command returning <see cref="UserColumns"/> (a query or <c>… RETURNING</c>), or null.</summary>
    private static async Task<UserAccount?> ReadOneUserAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadUser(reader, 0) : null;
    }

    private static UserAccount ReadUser(NpgsqlDataReader r, int o)
    {
        var name = r.GetString(o + 1);
        IReadOnlySet<Role> roles;
        try
        {
            roles = Roles.ParseList(r.GetString(o + 3));
        }
        catch (ArgumentException ex)
        {
            throw new CatalogException($"User '{name}' has roles the catalog does not know: {ex.Message}", ex);
        }

        return new UserAccount(
            r.GetInt64(o),
            name,
            NullableString(r, o + 2),
            roles,
            NullableString(r, o + 4),
            r.GetString(o + 5),
            SqliteCatalog.ParseTime(r.GetString(o + 6)),
            NullableTime(r, o + 7))
        {
            NdaUntil = NullableTime(r, o + 8),
            TrainingUntil = NullableTime(r, o + 9),
        };
    }

    private static ApiKeyRecord ReadApiKey(NpgsqlDataReader r, int o) =>
        new(
            r.GetInt64(o),
            r.GetInt64(o + 1),
            r.GetString(o + 2),
            r.GetString(o + 3),
            SqliteCatalog.ParseTime(r.GetString(o + 4)),
            NullableTime(r, o + 5),
            NullableTime(r, o + 6));
}

/// <summary>The user store of <see cref="PostgresCatalog"/> whose changes are audited as made by one actor.</summary>
internal sealed class PostgresUserStoreActingAs(PostgresCatalog catalog, string actor) : IUserStore
{
    public IUserStore ActingAs(string other) => catalog.ActingAs(other);

    public Task<UserAccount> AddUserAsync(string name, string? displayName, IReadOnlyCollection<Role> roles, string? passwordHash, CancellationToken ct = default) =>
        catalog.AddUserAsync(name, displayName, roles, passwordHash, actor, ct);

    public Task<UserAccount?> FindUserAsync(string name, CancellationToken ct = default) => catalog.FindUserAsync(name, ct);

    public Task<UserAccount?> GetUserAsync(long id, CancellationToken ct = default) => catalog.GetUserAsync(id, ct);

    public Task<IReadOnlyList<UserAccount>> ListUsersAsync(CancellationToken ct = default) => catalog.ListUsersAsync(ct);

    public Task<long> CountUsersAsync(CancellationToken ct = default) => catalog.CountUsersAsync(ct);

    public Task<UserAccount> SetPasswordHashAsync(string name, string passwordHash, CancellationToken ct = default) =>
        catalog.SetPasswordHashAsync(name, passwordHash, actor, ct);

    public Task<UserAccount> SetRolesAsync(string name, IReadOnlyCollection<Role> roles, CancellationToken ct = default) =>
        catalog.SetRolesAsync(name, roles, actor, ct);

    public Task<UserAccount> DisableUserAsync(string name, CancellationToken ct = default) => catalog.DisableUserAsync(name, actor, ct);

    public Task<UserAccount> RenewSecurityStampAsync(string name, CancellationToken ct = default) => catalog.RenewSecurityStampAsync(name, actor, ct);

    public Task<UserAccount> EnableUserAsync(string name, CancellationToken ct = default) => catalog.EnableUserAsync(name, actor, ct);

    public Task<ApiKeyRecord> AddApiKeyAsync(long userId, string name, string prefix, byte[] keySha256, CancellationToken ct = default) =>
        catalog.AddApiKeyAsync(userId, name, prefix, keySha256, actor, ct);

    public Task<(ApiKeyRecord Key, UserAccount User)?> FindApiKeyAsync(byte[] keySha256, CancellationToken ct = default) => catalog.FindApiKeyAsync(keySha256, ct);

    public Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(long userId, CancellationToken ct = default) => catalog.ListApiKeysAsync(userId, ct);

    public Task RevokeApiKeyAsync(long keyId, CancellationToken ct = default) => catalog.RevokeApiKeyAsync(keyId, actor, ct);

    public Task TouchApiKeyAsync(long keyId, CancellationToken ct = default) => catalog.TouchApiKeyAsync(keyId, ct);
}
