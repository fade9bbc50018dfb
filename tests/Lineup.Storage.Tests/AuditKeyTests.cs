using Lineup.Core.Audit;
using Lineup.Core.Catalog;

namespace Lineup.Storage.Tests;

/// <summary>The audit log's Ed25519 key (libsodium through NSec): standard signatures, key files and their permissions.</summary>
public sealed class AuditKeyTests : IDisposable
{
    private readonly TempDirectory _dir = new("audit-key");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Signatures_are_standard_Ed25519_RFC_8032_test_1()
    {
        // RFC 8032 §7.1, TEST 1: the empty message.
        var publicKey = Convert.FromHexString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        var signature = Convert.FromHexString(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
        var key = AuditPublicKey.FromRaw(publicKey);
        Assert.True(key.Verify([], signature));
        var flipped = (byte[])signature.Clone();
        flipped[0] ^= 1;
        Assert.False(key.Verify([], flipped));
        Assert.False(key.Verify([0], signature));
        Assert.False(key.Verify([], signature.AsSpan(0, 63)));
        Assert.Equal(AuditKeys.KeyId(publicKey), key.KeyId);
    }

    [Fact]
    public void The_key_is_created_once_owner_only_with_its_public_half_beside_it()
    {
        var data = _dir.Combine("data");
        string keyId;
        using (var created = AuditSigningKey.LoadOrCreate(data))
        {
            keyId = created.KeyId;
            var signature = created.Sign("note"u8);
            Assert.Equal(64, signature.Length);
            Assert.True(created.Public.Verify("note"u8, signature));
        }

        var (privatePath, publicPath) = AuditSigningKey.PathsIn(data);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(privatePath));
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", File.ReadAllText(publicPath));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(privatePath));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(privatePath)!));
        }

        Assert.Equal([AuditSigningKey.PrivateKeyFileName, AuditSigningKey.PublicKeyFileName], Directory.GetFiles(Path.GetDirectoryName(privatePath)!).Select(Path.GetFileName).Order());

        using var again = AuditSigningKey.LoadOrCreate(data);
        Assert.Equal(keyId, again.KeyId);
        Assert.Equal(keyId, AuditPublicKey.LoadFromDataDirectory(data)!.KeyId);
        Assert.Equal(again.Origin, AuditPublicKey.FromVerifierKey(again.Public.VerifierKey).Origin);
        Assert.Null(AuditPublicKey.LoadFromDataDirectory(_dir.Combine("elsewhere")));
    }

    [Fact]
    public async Task Processes_racing_to_create_the_key_all_end_up_with_the_same_one()
    {
        var data = _dir.Combine("race");
        var keys = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => AuditSigningKey.LoadOrCreate(data))));
        Assert.Single(keys.Select(k => k.KeyId).Distinct());
        foreach (var key in keys)
        {
            key.Dispose();
        }

        Assert.Equal(2, Directory.GetFiles(Path.Combine(data, AuditSigningKey.KeysDirectoryName)).Length);
    }

    [SkippableFact]
    public void A_key_file_others_can_read_is_refused()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new SkipException("Unix file permissions only.");
        }

        var data = _dir.Combine("perm");
        AuditSigningKey.LoadOrCreate(data).Dispose();
        var (privatePath, _) = AuditSigningKey.PathsIn(data);
        File.SetUnixFileMode(privatePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var refused = Assert.Throws<CatalogException>(() => AuditSigningKey.LoadOrCreate(data));
        Assert.Contains("chmod 600", refused.Message);
    }

    [Fact]
    public void A_public_key_file_that_is_not_the_private_keys_half_is_refused()
    {
        var data = _dir.Combine("a");
        AuditSigningKey.LoadOrCreate(data).Dispose();
        AuditSigningKey.LoadOrCreate(_dir.Combine("b")).Dispose();
        File.Copy(AuditSigningKey.PathsIn(_dir.Combine("b")).PublicKey, AuditSigningKey.PathsIn(data).PublicKey, overwrite: true);
        var refused = Assert.Throws<CatalogException>(() => AuditSigningKey.LoadOrCreate(data));
        Assert.Contains("not the public half", refused.Message);
    }
}
