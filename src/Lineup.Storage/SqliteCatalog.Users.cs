using System.Security.Cryptography;
using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using Lineup.Core.Security;
using Microsoft.Data.Sqlite;

namespace Lineup.Storage;

/// <summary>Users and API keys (<see cref="IUserStore"/>).</summary>
public sealed partial class SqliteCatalog : IUserStore
{
    /// <summary>
    /// The least time between two writes of one key's <c>last_used_at</c>: every API call touches its key, and a write
    /// per call would queue every request behind the single writer. A minute is as precise as "last used" needs to be.
    /// </summary>
    internal static readonly TimeSpan ApiKeyTouchInterval = TimeSpan.FromMinutes(1);

    private const string UserColumns =
        "u.id, u.name, u.display_name, u.roles, u.password_hash, u.security_stamp, u.created_at, u.disabled_at, u.nda_until, u.training_until";

    private const string ApiKeyColumns = "k.id, k.user_id, k.name, k.prefix, k.created_at, k.last_used_at, k.revoked_at";

    private const int ApiKeyColumnCount = 7;

    /// <summary>SQLITE_CONSTRAINT_UNIQUE: the extended result code of a duplicate user name or key hash.</summary>
    private const int SqliteConstraintUnique = 2067;

    /// <summary>Who changes users when the caller does not say (<see cref="ActingAs"/>): recorded as such in the audit log.</summary>
    public const string SystemActor = "system";

    public IUserStore ActingAs(string actor)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        return new UserStoreActingAs(this, actor);
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

        var roleText = FormatRoles(roles);
        if (passwordHash is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(passwordHash);
        }

        displayName = string.IsNullOrWhiteSpace(displayName) ? null : displayName.Trim();
        try
        {
            return await WriteAsync(async tx =>
            {
                using var insert = _writer.CreateCommand();
                insert.Transaction = tx;
                insert.CommandText = """
                    INSERT INTO users(name, display_name, roles, password_hash, security_stamp, created_at)
                    VALUES ($name, $display, $roles, $hash, $stamp, $created) RETURNING id
                    """;
                insert.Parameters.AddWithValue("$name", name);
                insert.Parameters.AddWithValue("$display", (object?)displayName ?? DBNull.Value);
                insert.Parameters.AddWithValue("$roles", roleText);
                insert.Parameters.AddWithValue("$hash", (object?)passwordHash ?? DBNull.Value);
                insert.Parameters.AddWithValue("$stamp", NewSecurityStamp());
                insert.Parameters.AddWithValue("$created", FormatTime(_clock.GetUtcNow()));
                var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                await AppendAuditAsync(tx, UserEvent(actor, name, "user.add").With("roles", roleText), ct).ConfigureAwait(false);
                return (await ReadUserAsync(_writer, tx, "u.id = $key", id, ct).ConfigureAwait(false))!;
            }, ct).ConfigureAwait(false);
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
        {
            throw new CatalogException($"A user named '{name}' already exists (names are compared ignoring case).", ex);
        }
    }

    public async Task<UserAccount?> FindUserAsync(string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);

        // users.name is declared COLLATE NOCASE, so "=" ignores (ASCII) case and uses the unique index.
        return await ReadUserAsync(connection, null, "u.name = $key", name, ct).ConfigureAwait(false);
    }

    public async Task<UserAccount?> GetUserAsync(long id, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        return await ReadUserAsync(connection, null, "u.id = $key", id, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<UserAccount>> ListUsersAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {UserColumns} FROM users u ORDER BY u.name, u.id";
        var users = new List<UserAccount>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            users.Add(ReadUser(reader, 0));
        }

        return users;
    }

    public async Task<long> CountUsersAsync(CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM users";
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    public Task<UserAccount> SetPasswordHashAsync(string name, string passwordHash, CancellationToken ct = default) =>
        SetPasswordHashAsync(name, passwordHash, SystemActor, ct);

    internal async Task<UserAccount> SetPasswordHashAsync(string name, string passwordHash, string actor, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(passwordHash);
        return await UpdateUserAsync(name, "password_hash = $value", passwordHash, actor, "user.password", ct).ConfigureAwait(false);
    }

    public Task<UserAccount> SetRolesAsync(string name, IReadOnlyCollection<Role> roles, CancellationToken ct = default) =>
        SetRolesAsync(name, roles, SystemActor, ct);

    internal async Task<UserAccount> SetRolesAsync(string name, IReadOnlyCollection<Role> roles, string actor, CancellationToken ct)
    {
        var roleText = FormatRoles(roles);
        return await UpdateUserAsync(name, "roles = $value", roleText, actor, "user.roles", ct).ConfigureAwait(false);
    }

    public Task<UserAccount> DisableUserAsync(string name, CancellationToken ct = default) => DisableUserAsync(name, SystemActor, ct);

    internal async Task<UserAccount> DisableUserAsync(string name, string actor, CancellationToken ct) =>
        await UpdateUserAsync(name, "disabled_at = coalesce(disabled_at, $value)", FormatTime(_clock.GetUtcNow()), actor, "user.disable", ct)
            .ConfigureAwait(false);

    public Task<UserAccount> RenewSecurityStampAsync(string name, CancellationToken ct = default) => RenewSecurityStampAsync(name, SystemActor, ct);

    internal async Task<UserAccount> RenewSecurityStampAsync(string name, string actor, CancellationToken ct) =>
        await UpdateUserAsync(name, "display_name = display_name", DBNull.Value, actor, "user.sessions-ended", ct).ConfigureAwait(false);

    public Task<UserAccount> EnableUserAsync(string name, CancellationToken ct = default) => EnableUserAsync(name, SystemActor, ct);

    internal async Task<UserAccount> EnableUserAsync(string name, string actor, CancellationToken ct) =>
        await UpdateUserAsync(name, "disabled_at = $value", DBNull.Value, actor, "user.enable", ct).ConfigureAwait(false);

    public Task<ApiKeyRecord> AddApiKeyAsync(long userId, string name, string prefix, byte[] keySha256, CancellationToken ct = default) =>
        AddApiKeyAsync(userId, name, prefix, keySha256, SystemActor, ct);

    internal async Task<ApiKeyRecord> AddApiKeyAsync(long userId, string name, string prefix, byte[] keySha256, string actor, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        RequireKeyHash(keySha256);
        try
        {
            return await WriteAsync(async tx =>
            {
                // Checked here rather than left to the foreign key, whose error does not say which user was missing.
                var owner = await ReadUserAsync(_writer, tx, "u.id = $key", userId, ct).ConfigureAwait(false)
                    ?? throw new CatalogException($"User {userId} does not exist.");
                await AppendAuditAsync(tx, UserEvent(actor, owner.Name, "apikey.add").With("key", prefix), ct).ConfigureAwait(false);

                using var insert = _writer.CreateCommand();
                insert.Transaction = tx;
                insert.CommandText = """
                    INSERT INTO api_keys(user_id, name, prefix, key_sha256, created_at)
                    VALUES ($user, $name, $prefix, $sha, $created) RETURNING id
                    """;
                insert.Parameters.AddWithValue("$user", userId);
                insert.Parameters.AddWithValue("$name", name.Trim());
                insert.Parameters.AddWithValue("$prefix", prefix);
                insert.Parameters.AddWithValue("$sha", keySha256);
                insert.Parameters.AddWithValue("$created", FormatTime(_clock.GetUtcNow()));
                var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                return (await ReadApiKeyAsync(_writer, tx, id, ct).ConfigureAwait(false))!;
            }, ct).ConfigureAwait(false);
        }
        catch (SqliteException ex) when (ex.SqliteExtendedErrorCode == SqliteConstraintUnique)
        {
            throw new CatalogException("An API key with the same SHA-256 is already stored; generate a new key.", ex);
        }
    }

    public async Task<(ApiKeyRecord Key, UserAccount User)?> FindApiKeyAsync(byte[] keySha256, CancellationToken ct = default)
    {
        RequireKeyHash(keySha256);
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {ApiKeyColumns}, {UserColumns}
            FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.key_sha256 = $sha
            """;
        command.Parameters.AddWithValue("$sha", keySha256);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false)
            ? (ReadApiKey(reader, 0), ReadUser(reader, ApiKeyColumnCount))
            : null;
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(long userId, CancellationToken ct = default)
    {
        await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {ApiKeyColumns} FROM api_keys k WHERE k.user_id = $user ORDER BY k.id";
        command.Parameters.AddWithValue("$user", userId);
        var keys = new List<ApiKeyRecord>();
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            keys.Add(ReadApiKey(reader, 0));
        }

        return keys;
    }

    public Task RevokeApiKeyAsync(long keyId, CancellationToken ct = default) => RevokeApiKeyAsync(keyId, SystemActor, ct);

    internal async Task RevokeApiKeyAsync(long keyId, string actor, CancellationToken ct) =>
        await WriteAsync(async tx =>
        {
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $now) WHERE id = $id";
            update.Parameters.AddWithValue("$now", FormatTime(_clock.GetUtcNow()));
            update.Parameters.AddWithValue("$id", keyId);
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                throw new CatalogException($"API key {keyId} does not exist.");
            }

            var key = (await ReadApiKeyAsync(_writer, tx, keyId, ct).ConfigureAwait(false))!;
            var owner = (await ReadUserAsync(_writer, tx, "u.id = $key", key.UserId, ct).ConfigureAwait(false))!;
            await AppendAuditAsync(tx, UserEvent(actor, owner.Name, "apikey.revoke").With("key", key.Prefix), ct).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);

    public async Task TouchApiKeyAsync(long keyId, CancellationToken ct = default)
    {
        var now = _clock.GetUtcNow();

        // Read first on a pooled reader (never blocked by the writer under WAL): within a minute of the last write,
        // which is almost every call under load, the writer is not touched at all.
        string? lastUsed;
        await using (var connection = await OpenReaderAsync(ct).ConfigureAwait(false))
        {
            using var read = connection.CreateCommand();
            read.CommandText = "SELECT coalesce(last_used_at, '') FROM api_keys WHERE id = $id";
            read.Parameters.AddWithValue("$id", keyId);
            lastUsed = (string?)await read.ExecuteScalarAsync(ct).ConfigureAwait(false)
                ?? throw new CatalogException($"API key {keyId} does not exist.");
        }

        if (!TouchIsDue(lastUsed, now))
        {
            return;
        }

        await WriteAsync(async tx =>
        {
            // The condition is repeated because other requests (or another process) may have written since the read.
            // A stored time in the future (the clock was set back) is overwritten rather than left to freeze the key.
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = """
                UPDATE api_keys SET last_used_at = $now
                WHERE id = $id AND (last_used_at IS NULL OR last_used_at <= $due OR last_used_at > $now)
                """;
            update.Parameters.AddWithValue("$now", FormatTime(now));
            update.Parameters.AddWithValue("$due", FormatTime(now - ApiKeyTouchInterval));
            update.Parameters.AddWithValue("$id", keyId);
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Whether a key last used at <paramref name="lastUsed"/> (empty: never) needs its time written at <paramref name="now"/>.</summary>
    private static bool TouchIsDue(string lastUsed, DateTimeOffset now)
    {
        if (lastUsed.Length == 0)
        {
            return true;
        }

        var last = ParseTime(lastUsed);
        return last <= now - ApiKeyTouchInterval || last > now;
    }

    /// <summary>Sets one column of the named user together with a new security stamp; returns the user as stored.</summary>
    private async Task<UserAccount> UpdateUserAsync(string name, string assignment, object value, string actor, string change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(name);
        return await WriteAsync(async tx =>
        {
            using var update = _writer.CreateCommand();
            update.Transaction = tx;
            update.CommandText = $"UPDATE users SET {assignment}, security_stamp = $stamp WHERE name = $name RETURNING id";
            update.Parameters.AddWithValue("$value", value);
            update.Parameters.AddWithValue("$stamp", NewSecurityStamp());
            update.Parameters.AddWithValue("$name", name);
            if (await update.ExecuteScalarAsync(ct).ConfigureAwait(false) is not long id)
            {
                throw new CatalogException($"There is no user named '{name}'.");
            }

            var user = (await ReadUserAsync(_writer, tx, "u.id = $key", id, ct).ConfigureAwait(false))!;
            var details = UserEvent(actor, user.Name, change);
            await AppendAuditAsync(tx, change == "user.roles" ? details.With("roles", Roles.Format(user.Roles)) : details, ct).ConfigureAwait(false);
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

    private static async Task<UserAccount?> ReadUserAsync(SqliteConnection connection, SqliteTransaction? tx, string condition, object key, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {UserColumns} FROM users u WHERE {condition}";
        command.Parameters.AddWithValue("$key", key);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadUser(reader, 0) : null;
    }

    private static async Task<ApiKeyRecord?> ReadApiKeyAsync(SqliteConnection connection, SqliteTransaction? tx, long id, CancellationToken ct)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"SELECT {ApiKeyColumns} FROM api_keys k WHERE k.id = $id";
        command.Parameters.AddWithValue("$id", id);
        using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadApiKey(reader, 0) : null;
    }

    private static UserAccount ReadUser(SqliteDataReader r, int o)
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
            ParseTime(r.GetString(o + 6)),
            NullableTime(r, o + 7))
        {
            NdaUntil = NullableTime(r, o + 8),
            TrainingUntil = NullableTime(r, o + 9),
        };
    }

    private static ApiKeyRecord ReadApiKey(SqliteDataReader r, int o) =>
        new(
            r.GetInt64(o),
            r.GetInt64(o + 1),
            r.GetString(o + 2),
            r.GetString(o + 3),
            ParseTime(r.GetString(o + 4)),
            NullableTime(r, o + 5),
            NullableTime(r, o + 6));

    /// <summary>The stored form of a role set; refuses an empty set and values outside <see cref="Role"/>.</summary>
    internal static string FormatRoles(IReadOnlyCollection<Role> roles)
    {
        ArgumentNullException.ThrowIfNull(roles);
        if (roles.Count == 0)
        {
            throw new ArgumentException("A user needs at least one role.", nameof(roles));
        }

        foreach (var role in roles)
        {
            if (!Enum.IsDefined(role))
            {
                throw new ArgumentException($"{(int)role} is not a role.", nameof(roles));
            }
        }

        return Roles.Format(roles);
    }

    internal static void RequireKeyHash(byte[] keySha256)
    {
        ArgumentNullException.ThrowIfNull(keySha256);
        if (keySha256.Length != 32)
        {
            throw new ArgumentException($"An API key's SHA-256 is 32 bytes, got {keySha256.Length}.", nameof(keySha256));
        }
    }

    /// <summary>128 random bits: a stamp that cannot be guessed or repeat, so an old cookie never matches a new one.</summary>
    internal static string NewSecurityStamp() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}

/// <summary>The user store of <see cref="SqliteCatalog"/> whose changes are audited as made by one actor.</summary>
internal sealed class UserStoreActingAs(SqliteCatalog catalog, string actor) : IUserStore
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
