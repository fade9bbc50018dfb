using System.Collections.ObjectModel;

namespace Lineup.Core.Security;

/// <summary>What a signed-in person may do. Stored and shown lower-case (<see cref="Roles.Name"/>).</summary>
public enum Role
{
    Analyst,
    Reviewer,
    Supervisor,
    Auditor,
    Admin,
}

/// <summary>Role names as stored in the catalog and typed by operators: <c>analyst</c>, <c>reviewer</c>, ….</summary>
public static class Roles
{
    private static readonly string[] s_names = ["analyst", "reviewer", "supervisor", "auditor", "admin"];

    /// <summary>Every role, in declaration order.</summary>
    public static IReadOnlyList<Role> All { get; } = [Role.Analyst, Role.Reviewer, Role.Supervisor, Role.Auditor, Role.Admin];

    /// <summary>The lower-case name of <paramref name="role"/>, e.g. <c>analyst</c>.</summary>
    public static string Name(Role role) =>
        (uint)role < (uint)s_names.Length ? s_names[(int)role] : throw new ArgumentOutOfRangeException(nameof(role), role, "Not a role.");

    /// <summary>
    /// Reads one role name, ignoring case. Only the names are accepted: unlike <see cref="Enum.TryParse{TEnum}(string, bool, out TEnum)"/>,
    /// a number such as <c>"4"</c> is not a role.
    /// </summary>
    public static bool TryParse(string? text, out Role role)
    {
        for (var i = 0; i < s_names.Length; i++)
        {
            if (string.Equals(text, s_names[i], StringComparison.OrdinalIgnoreCase))
            {
                role = (Role)i;
                return true;
            }
        }

        role = default;
        return false;
    }

    /// <summary>
    /// Reads a comma-separated list of role names (case ignored, blanks around names and empty entries skipped;
    /// an empty text is the empty set). Throws <see cref="ArgumentException"/> naming the first unknown role.
    /// </summary>
    public static IReadOnlySet<Role> ParseList(string commaSeparated)
    {
        ArgumentNullException.ThrowIfNull(commaSeparated);
        var roles = new HashSet<Role>();
        foreach (var part in commaSeparated.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!TryParse(part, out var role))
            {
                throw new ArgumentException(
                    $"Unknown role '{part}'; the roles are {string.Join(", ", s_names)}.", nameof(commaSeparated));
            }

            roles.Add(role);
        }

        return new ReadOnlySet<Role>(roles);
    }

    /// <summary>The comma-separated form <see cref="ParseList"/> reads: distinct names in declaration order.</summary>
    public static string Format(IEnumerable<Role> roles)
    {
        ArgumentNullException.ThrowIfNull(roles);
        return string.Join(',', roles.Distinct().Order().Select(Name));
    }
}

/// <summary>The rules for a user name, checked by the user store before anything is written.</summary>
public static class UserNames
{
    public const int MaxLength = 64;

    /// <summary>
    /// 1–64 ASCII letters, digits and <c>. _ - @</c>. ASCII only because names are unique ignoring case and SQLite's
    /// NOCASE folds only ASCII letters: with other letters, "É" and "é" would be two different users.
    /// </summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-' or '@'))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A person who signs in to the analyst server.</summary>
/// <param name="Name">The sign-in name, unique ignoring case (<see cref="UserNames"/>).</param>
/// <param name="Roles">What the user may do; never empty.</param>
/// <param name="PasswordHash">ASP.NET Core Identity's PasswordHasher output, kept as given; null for a user with API keys only.</param>
/// <param name="SecurityStamp">A random value replaced whenever the password, the roles or the disabled state change, so that
/// every cookie issued before the change stops being accepted.</param>
public sealed record UserAccount(
    long Id,
    string Name,
    string? DisplayName,
    IReadOnlySet<Role> Roles,
    string? PasswordHash,
    string SecurityStamp,
    DateTimeOffset CreatedAt,
    DateTimeOffset? DisabledAt)
{
    public bool IsDisabled => DisabledAt is not null;

    /// <summary>When the user's confidentiality agreement expires; null: none on record. Searching and confirming need one.</summary>
    public DateTimeOffset? NdaUntil { get; init; }

    /// <summary>When the user's face-search training expires; null: none on record. Searching and confirming need it current.</summary>
    public DateTimeOffset? TrainingUntil { get; init; }
}

/// <summary>An integration key as the catalog keeps it: never the key itself, only its SHA-256 (not exposed) and its prefix.</summary>
/// <param name="Prefix">The key's first characters, shown in lists so an operator can tell keys apart.</param>
public sealed record ApiKeyRecord(
    long Id,
    long UserId,
    string Name,
    string Prefix,
    DateTimeOffset CreatedAt,
    DateTimeOffset? LastUsedAt,
    DateTimeOffset? RevokedAt)
{
    public bool IsRevoked => RevokedAt is not null;
}

/// <summary>
/// Users and their API keys. Invalid arguments throw <see cref="ArgumentException"/>; a name or id that does not exist,
/// or a name that is taken, throws <see cref="Catalog.CatalogException"/>.
/// </summary>
public interface IUserStore
{
    /// <summary>This store with every change audited as made by <paramref name="actor"/> (a user name, or "cli:…"); changes
    /// through the store itself are audited as "system".</summary>
    IUserStore ActingAs(string actor);

    /// <summary>Adds a user with a fresh security stamp. The name must satisfy <see cref="UserNames.IsValid"/> and be
    /// unused ignoring case; at least one role is required.</summary>
    Task<UserAccount> AddUserAsync(string name, string? displayName, IReadOnlyCollection<Role> roles, string? passwordHash, CancellationToken ct = default);

    /// <summary>The user named <paramref name="name"/>, ignoring case; null when there is none.</summary>
    Task<UserAccount?> FindUserAsync(string name, CancellationToken ct = default);

    Task<UserAccount?> GetUserAsync(long id, CancellationToken ct = default);

    /// <summary>Every user, disabled ones included, ordered by name.</summary>
    Task<IReadOnlyList<UserAccount>> ListUsersAsync(CancellationToken ct = default);

    Task<long> CountUsersAsync(CancellationToken ct = default);

    /// <summary>Replaces the password hash and the security stamp.</summary>
    Task<UserAccount> SetPasswordHashAsync(string name, string passwordHash, CancellationToken ct = default);

    /// <summary>Replaces the roles (at least one) and the security stamp.</summary>
    Task<UserAccount> SetRolesAsync(string name, IReadOnlyCollection<Role> roles, CancellationToken ct = default);

    /// <summary>Marks the user disabled (keeping the first time when already disabled) and replaces the security stamp.</summary>
    Task<UserAccount> DisableUserAsync(string name, CancellationToken ct = default);

    /// <summary>Clears the disabled mark and replaces the security stamp.</summary>
    /// <summary>A new security stamp and nothing else: every session issued before ends (sign-out everywhere).</summary>
    Task<UserAccount> RenewSecurityStampAsync(string name, CancellationToken ct = default);

    Task<UserAccount> EnableUserAsync(string name, CancellationToken ct = default);

    /// <summary>Adds a key of user <paramref name="userId"/>, known by the 32-byte SHA-256 of the key.</summary>
    Task<ApiKeyRecord> AddApiKeyAsync(long userId, string name, string prefix, byte[] keySha256, CancellationToken ct = default);

    /// <summary>The key with this SHA-256 and its user; revoked keys and disabled users are returned too (the caller decides).</summary>
    Task<(ApiKeyRecord Key, UserAccount User)?> FindApiKeyAsync(byte[] keySha256, CancellationToken ct = default);

    /// <summary>The user's keys, revoked ones included, oldest first.</summary>
    Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(long userId, CancellationToken ct = default);

    /// <summary>Marks the key revoked (keeping the first time when already revoked).</summary>
    Task RevokeApiKeyAsync(long keyId, CancellationToken ct = default);

    /// <summary>Records that the key was used now, writing at most once a minute per key.</summary>
    Task TouchApiKeyAsync(long keyId, CancellationToken ct = default);
}
