using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Security;
using Microsoft.AspNetCore.Identity;

namespace Lineup.Server.Security;

/// <summary>
/// People and integration keys: passwords are hashed with ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/>
/// (PBKDF2-HMAC-SHA512, a 128-bit salt per hash, its iteration count in the hash, so it can be raised later and old
/// hashes rehashed at the next sign-in); API keys are 256 random bits, of which the catalog keeps only the SHA-256.
/// </summary>
public sealed class UserDirectory(IUserStore store)
{
    /// <summary>API keys start with this, so a leaked one is recognisable (secret scanners, logs).</summary>
    public const string KeyPrefix = "lk_";

    /// <summary>NIST SP 800-63B asks for at least 8 characters; people with access to a biometric gallery get 12.</summary>
    public const int MinimumPasswordLength = 12;

    private const int MaximumPasswordLength = 256;

    private static readonly PasswordHasher<UserAccount> s_hasher = new();

    // Verified when the user does not exist, so that an unknown name costs as long as a wrong password.
    private static readonly string s_decoyHash = s_hasher.HashPassword(null!, "decoy password for unknown users");

    public IUserStore Store { get; } = store;

    public async Task<UserAccount> AddAsync(string name, string? displayName, IReadOnlyCollection<Role> roles, string? password, CancellationToken ct = default)
    {
        var hash = password is null ? null : Hash(password);
        return await Store.AddUserAsync(name, displayName, roles, hash, ct).ConfigureAwait(false);
    }

    public async Task<UserAccount> SetPasswordAsync(string name, string password, CancellationToken ct = default) =>
        await Store.SetPasswordHashAsync(name, Hash(password), ct).ConfigureAwait(false);

    /// <summary>The user when the name and password are right and the user is enabled; otherwise null (no reason given).</summary>
    public async Task<UserAccount?> SignInAsync(string name, string password, CancellationToken ct = default)
    {
        var user = string.IsNullOrWhiteSpace(name) || name.Length > 64 ? null : await Store.FindUserAsync(name, ct).ConfigureAwait(false);
        if (user?.PasswordHash is not { } hash || password.Length > MaximumPasswordLength)
        {
            s_hasher.VerifyHashedPassword(null!, s_decoyHash, password.Length > MaximumPasswordLength ? "" : password);
            return null;
        }

        var verdict = s_hasher.VerifyHashedPassword(user, hash, password);
        if (verdict == PasswordVerificationResult.Failed || user.IsDisabled)
        {
            return null;
        }

        if (verdict == PasswordVerificationResult.SuccessRehashNeeded)
        {
            user = await Store.SetPasswordHashAsync(user.Name, s_hasher.HashPassword(user, password), ct).ConfigureAwait(false);
        }

        return user;
    }

    /// <summary>Creates a key for the user; the returned secret is shown once and never stored.</summary>
    public async Task<(ApiKeyRecord Key, string Secret)> CreateApiKeyAsync(string userName, string keyName, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyName);
        var user = await Store.FindUserAsync(userName, ct).ConfigureAwait(false)
            ?? throw new CatalogException($"There is no user '{userName}'.");
        var secret = KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var record = await Store.AddApiKeyAsync(user.Id, keyName.Trim(), secret[..(KeyPrefix.Length + 6)], SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(secret)), ct)
            .ConfigureAwait(false);
        return (record, secret);
    }

    /// <summary>The key's user when the key exists, is not revoked and its user is enabled; otherwise null.</summary>
    public async Task<(UserAccount User, ApiKeyRecord Key)?> AuthenticateKeyAsync(string secret, CancellationToken ct = default)
    {
        if (!secret.StartsWith(KeyPrefix, StringComparison.Ordinal) || secret.Length > 128)
        {
            return null;
        }

        var found = await Store.FindApiKeyAsync(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(secret)), ct).ConfigureAwait(false);
        if (found is not { } pair || pair.Key.IsRevoked || pair.User.IsDisabled)
        {
            return null;
        }

        await Store.TouchApiKeyAsync(pair.Key.Id, ct).ConfigureAwait(false);
        return (pair.User, pair.Key);
    }

    /// <summary>A random password for a bootstrap account: 20 characters from an alphabet without look-alikes (~115 bits).</summary>
    public static string GeneratePassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return RandomNumberGenerator.GetString(alphabet, 20);
    }

    private static string Hash(string password)
    {
        if (password.Length < MinimumPasswordLength)
        {
            throw new ArgumentException($"A password needs at least {MinimumPasswordLength} characters.");
        }

        if (password.Length > MaximumPasswordLength)
        {
            throw new ArgumentException($"A password may have at most {MaximumPasswordLength} characters.");
        }

        return s_hasher.HashPassword(null!, password);
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
